"""``edgecodec package`` and model files with a broken configuration or weights: one clear line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgecodec.codec.models.config import CodecConfig, get_config

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kodim15.png"


def broken(tmp_path: Path, tiny_ckpt: str, kind: str) -> Path:
    """A copy of the tiny checkpoint with one defect."""
    payload = torch.load(tiny_ckpt, weights_only=True)
    if kind == "missing key":
        del payload["model"]["z_cdfs"]
    elif kind == "no model":
        del payload["model"]
    elif kind == "no config":
        del payload["config"]
    elif kind == "config not a dict":
        payload["config"] = "hello"
    else:  # a configuration field set to an invalid value, e.g. "groups=0"
        key, value = kind.split("=")
        payload["config"] = dict(payload["config"], **{key: type(payload["config"][key])(value)})
    path = tmp_path / "broken.pt"
    torch.save(payload, path)
    return path


KINDS = ["missing key", "no model", "no config", "config not a dict", "groups=0", "quality_levels=0",
         "quality_levels=1", "lambda_min=0", "lambda_max=0.00001"]


@pytest.mark.parametrize("kind", KINDS)
def test_package_of_a_broken_checkpoint_is_one_line_naming_it(cli, tmp_path, tiny_ckpt, kind):
    model = broken(tmp_path, tiny_ckpt, kind)
    out = tmp_path / "packaged.pt"
    res = cli("package", model, "-o", out)
    assert res.rc == 1 and len(res.err_lines) == 1, res.err
    assert res.err.startswith(f"edgecodec: error: {model}: ") and "internal error" not in res.err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["no model", "groups=0", "missing key"])
def test_training_from_a_broken_checkpoint_is_one_line_naming_it(cli, tmp_path, tiny_ckpt, kind):
    model = broken(tmp_path, tiny_ckpt, kind)
    out = tmp_path / "run"
    res = cli("train", SAMPLE.parent, "--init", model, "--out", out, "--steps", 1, "--batch", 1, "--crop", 64)
    assert res.rc == 1 and len(res.err_lines) == 1, res.err
    assert res.err.startswith(f"edgecodec: error: {model}: ") and "internal error" not in res.err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["groups=0", "quality_levels=1"])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_coding_with_an_invalid_configuration_is_one_line(cli, tmp_path, tiny_ckpt, kind, command):
    model = broken(tmp_path, tiny_ckpt, kind)
    ecb = tmp_path / "x.ecb"
    assert cli("encode", SAMPLE, "-o", ecb, "--model", tiny_ckpt).rc == 0
    source, out = (SAMPLE, tmp_path / "y.ecb") if command == "encode" else (ecb, tmp_path / "y.png")
    res = cli(command, source, "-o", out, "--model", model)
    assert res.rc == 1 and res.err_lines == [f"edgecodec: error: {model}: invalid model configuration "
                                             f"({kind.split('=')[0]} must be an integer >= "
                                             f"{1 if kind.startswith('groups') else 2}, got {kind.split('=')[1]})"]
    assert not out.exists()


def test_package_refuses_to_overwrite_its_input(cli, tmp_path, tiny_ckpt):
    model = tmp_path / "last.pt"
    model.write_bytes(Path(tiny_ckpt).read_bytes())
    link = tmp_path / "link.pt"
    link.symlink_to(model)
    for out in (model, link):
        res = cli("package", model, "-o", out)
        assert res.rc == 1 and res.err_lines == [f"edgecodec: error: {out}: the output would overwrite the input"]
    assert model.read_bytes() == Path(tiny_ckpt).read_bytes()


@pytest.mark.parametrize("change, message", [
    ({"groups": 0}, "groups must be an integer >= 1"),
    ({"groups": 3}, "hyper_width=32 must be divisible by groups=3"),
    ({"width": 33}, "width=33 must be divisible by groups=2"),
    ({"quality_levels": 1}, "quality_levels must be an integer >= 2"),
    ({"lambda_min": 1.0}, "need finite 0 < lambda_min < lambda_max"),
    ({"lambda_min": float("nan")}, "need finite 0 < lambda_min < lambda_max"),
    ({"spatial": [True, False]}, "one true/false flag per slice"),
    ({"depths": [1, -1, 0]}, "depths must be an integer >= 0"),
    ({"width": "32"}, "width must be an integer >= 1"),
    ({"int8": ["nope"]}, "int8 parts must be"),
    ({"extra": {"int8": ["nope"]}}, "int8 parts must be"),  # the form before the typed plan
    ({"extra": {"colour": 1}}, "unknown configuration field(s): extra.colour"),
    ({"colour": 1}, "unknown configuration field(s): colour"),
])
def test_config_from_dict_refuses_what_cannot_be_built(change, message):
    with pytest.raises(ValueError) as info:
        CodecConfig.from_dict(dict(get_config("dkic-tiny").to_dict(), **change))
    assert message in str(info.value) and "\n" not in str(info.value)
