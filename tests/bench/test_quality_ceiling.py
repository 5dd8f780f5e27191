"""bench/quality_ceiling.py on the tiny model: its three PSNRs and the fitting test."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecodec.checkpoint import init_model
from edgecodec.codec.facade import Codec
from edgecodec.codec.models.config import get_config

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("quality_ceiling", ROOT / "bench" / "quality_ceiling.py")
quality_ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quality_ceiling)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny() -> Codec:
    import torch

    torch.manual_seed(0)
    return Codec(init_model(get_config("dkic-tiny")))


def _image() -> np.ndarray:
    yy, xx = np.mgrid[0:96, 0:128]
    return np.stack([yy * 2, xx * 2, (xx + yy) % 256], -1).astype(np.uint8)


def test_ceiling_row_measures_the_coded_file_and_both_syntheses(tiny):
    coded, rounded, unquantised, bpp = quality_ceiling.ceiling_row(tiny, _image(), 100)
    assert bpp > 0 and all(np.isfinite([coded, rounded, unquantised]))
    assert abs(coded - rounded) < 3  # the coded latent is round(y) up to the means' rounding


def test_fitting_one_crop_raises_its_psnr(tiny):
    trace = quality_ceiling.fit(tiny, _image(), [float(tiny.model.config.quality_levels - 1)], 50, lr=1e-3)
    assert len(trace) == 3 and trace[-1] > trace[0] + 1, trace


def test_a_folder_without_photos_is_a_one_line_error(tmp_path, capsys):
    assert quality_ceiling.main([str(tmp_path), "--model", "dkic-tiny"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
