"""A short surveillance clip: the first 40 frames of vtest.avi, or a generated one without shared data."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

VTEST = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "vtest.avi"


def generated_clip(path: Path, frames: int, width: int = 320, height: int = 256) -> Path:
    """A fixed 'scene' (gradient and texture) with two walking blobs, MJPG in .avi."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    scene = np.stack([xx * 255 // width, yy * 255 // height, (xx ^ yy) & 0xFF], axis=2).astype(np.uint8)
    scene = cv2.GaussianBlur(scene, (5, 5), 0) // 2 + rng.integers(0, 64, scene.shape, dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for t in range(frames):
        frame = scene.copy()
        for k, colour in enumerate(((40, 40, 200), (200, 220, 240))):
            x = (20 + 6 * t + 90 * k) % (width - 40)
            cv2.rectangle(frame, (x, 60 + 40 * k), (x + 30, 150 + 40 * k), colour, -1)
        writer.write(frame)
    writer.release()
    return path


def copy_head(src: Path, dst: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``src`` re-encoded as MJPG .avi."""
    cap = cv2.VideoCapture(str(src))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    cap.release()
    writer.release()
    return dst


@pytest.fixture(scope="session")
def site_clip(tmp_path_factory) -> Path:
    """40 frames of the surveillance video (generated when ../shared is absent)."""
    folder = tmp_path_factory.mktemp("site")
    if VTEST.is_file():
        return copy_head(VTEST, folder / "site.avi", 40)
    return generated_clip(folder / "site.avi", 40)


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """12 small generated frames (fast runs)."""
    return generated_clip(tmp_path_factory.mktemp("small") / "small.avi", 12, 192, 128)


@pytest.fixture(scope="module")
def model():
    """The checked-in tiny model (tests/golden), loaded once per module."""
    from edgecodec.checkpoint import from_checkpoint

    return from_checkpoint(Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt")
