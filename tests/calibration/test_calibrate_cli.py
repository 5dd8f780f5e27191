"""`edgecodec calibrate` end to end on a short surveillance clip with the tiny model, and its bad inputs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import torch
import pytest

from edgecodec.checkpoint import from_checkpoint
from edgecodec.cli.main import main
from edgecodec import codec
from edgecodec.edge.config import DaemonConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TINY = Path(__file__).resolve().parents[1] / "golden" / "dkic-tiny.pt"
BUDGET, FPS = 400.0, 10.0
pytestmark = pytest.mark.usefixtures("one_thread")


def calibrate_args(source, out, *extra) -> list[str]:
    return ["calibrate", "--source", str(source), "--out", str(out), "--model", str(TINY), "--fps", str(FPS),
            "--eval-qualities", "20", "80", *extra]


@pytest.fixture(scope="module")
def run(site_clip, tmp_path_factory):
    """One full calibration with adaptation (3 steps): (output folder, exit status)."""
    out = tmp_path_factory.mktemp("calibration") / "site"
    rc = main(calibrate_args(site_clip, out, "--frames", "6", "--budget-kbps", str(BUDGET), "--adapt",
                             "--adapt-steps", "3", "--quality-grid", "0", "25", "50", "75", "100",
                             "--stream-frames", "8", "--chain", "3"))
    return out, rc


@pytest.fixture(scope="module")
def result(run) -> dict:
    return json.loads((run[0] / "calibration.json").read_text())


def test_writes_every_output(run, result):
    out, rc = run
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"calibration.json", "device.toml", "report.html", "frames", "encoder-int8.pt", "encoder-int8.onnx"} <= names
    assert not [n for n in names if n.startswith(".")]  # no staging left behind
    assert sorted(p.name for p in (out / "frames").iterdir()) == sorted(
        result["frames"]["calibration"] + result["frames"]["held_out"])
    assert len(result["frames"]["calibration"]) == 3 and len(result["frames"]["held_out"]) == 3
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 3 and html.count("data:image/png;base64") == 6 and "int8 encoder" in html


def test_device_toml_is_a_daemon_configuration(run, result, tmp_path):
    settings = tomllib.loads((run[0] / "device.toml").read_text())
    assert set(settings) <= set(DaemonConfig.model_fields)
    assert settings["quality"] == result["rate"]["quality"] and settings["fps"] == FPS
    assert (settings["key_interval_s"], settings["scene_change"], settings["intra"]) == (60.0, 0.5, False)
    assert settings["chain"] == result["rate"]["chain"] == 3  # the policy the rate table was measured with
    (tmp_path / "token").write_text("t")
    config = DaemonConfig.model_validate(settings | {
        "server": "https://nvr.example", "device_id": "gate-1", "token_file": str(tmp_path / "token"),
        "spool": str(tmp_path / "spool")})
    assert (config.quality, config.chain) == (result["rate"]["quality"], 3)
    if result["adaptation"]["shipped"]:
        assert settings["model"] == str((run[0] / "encoder-adapted.pt").resolve())
    else:
        assert settings["model"] == str(TINY.resolve()) and not (run[0] / "encoder-adapted.pt").exists()


def test_the_rate_choice_respects_the_budget_on_the_table(result):
    rate = result["rate"]
    assert rate["fits"] and rate["budget_kbps"] == BUDGET and rate["percentile"] == 90
    assert rate["expected_kbps"] <= BUDGET and rate["measured_kbps"] <= BUDGET
    below = [r for r in rate["table"] if r["quality"] <= rate["quality"]]
    above = [r for r in rate["table"] if r["quality"] > rate["quality"]]
    assert below and max(r["required_kbps"] for r in below) <= BUDGET
    assert not above or above[0]["required_kbps"] > BUDGET


def test_the_rate_table_streams_consecutive_frames(result):
    rate = result["rate"]
    assert rate["clip"]["frames"] == 8 and rate["clip"]["source_indices"] == list(range(8))  # 10 fps file at 10 fps
    for row, intra in zip(rate["table"], rate["intra_table"], strict=True):
        assert row["key_frames"] >= 1 and row["key_frames"] + row["delta_frames"] == 8 and row["psnr"] > 0
        assert intra["quality"] == row["quality"] and intra["delta_frames"] == 0
        assert row["required_kbps"] == max(row["mean_kbps"], row["window_kbps"])
    assert sum(r["delta_frames"] for r in rate["table"]) > 0


def test_the_report_puts_the_stream_next_to_x264(run, result):
    html = (run[0] / "report.html").read_text()
    assert "edgecodec stream" in html and "against x264" in html and "in chains of at most 3" in html
    if result["x264"]["available"]:
        assert "x264 veryfast zerolatency g=20" in html and len(result["x264"]["points"]) == 6
    else:
        assert "x264 not measured" in html


def test_without_ffmpeg_the_calibration_succeeds_and_says_so(small_clip, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    res = cli(*calibrate_args(small_clip, tmp_path / "out", "--frames", "2", "--budget-kbps", "1000",
                              "--quality-grid", "50", "--stream-frames", "3"))
    assert res.rc == 0, res.err
    result = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert result["x264"]["available"] is False and "ffmpeg not found" in result["x264"]["reason"]
    assert "x264 not measured: ffmpeg not found" in (tmp_path / "out" / "report.html").read_text()
    assert "x264 not measured" in res.out


def test_int8_encoder_keeps_the_model_id_and_exports_qdq(run, result):
    server = from_checkpoint(TINY)
    quantised = from_checkpoint(run[0] / "encoder-int8.pt")
    assert quantised.config.int8 == ("analysis",)  # the hyper-analysis stays float
    assert codec.model_id(quantised) == codec.model_id(server) == bytes.fromhex(result["model"]["id"])
    kinds = [n.op_type for n in onnx.load(str(run[0] / "encoder-int8.onnx")).graph.node]
    analysis_convs = sum(isinstance(m, torch.nn.Conv2d) for m in server.analysis.modules())
    assert kinds.count("QuantizeLinear") >= analysis_convs > 0
    assert result["int8"]["bd_rate_vs_float_pct"] is not None
    assert set(result["int8"]["latent_snr_db"]) == {"percentile", "entropy"}


def test_adaptation_and_downstream_are_reported(result):
    adaptation = result["adaptation"]
    assert adaptation["enabled"] and adaptation["options"]["steps"] == 3
    assert adaptation["shipped"] == (adaptation["bd_rate_vs_unadapted_pct"] < 0)
    for key in ("edgecodec", "jpeg"):
        d = result["downstream"][key]
        assert d["matched"] <= min(d["reference"], d["detections"]) and d["bpp"] > 0
    # JPEG was matched to edgecodec's size per frame: the same order of bytes
    assert 0.2 < result["downstream"]["jpeg"]["bpp"] / result["downstream"]["edgecodec"]["bpp"] < 5


def test_an_unreachable_budget_still_writes_everything_and_exits_3(small_clip, tmp_path, cli):
    res = cli(*calibrate_args(small_clip, tmp_path / "out", "--frames", "2", "--budget-kbps", "0.001",
                              "--quality-grid", "0"))
    assert res.rc == 3 and "BUDGET NOT MET" in res.err and "edgecodec: error" not in res.err
    result = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert result["rate"]["fits"] is False and result["rate"]["quality"] == 0
    assert tomllib.loads((tmp_path / "out" / "device.toml").read_text())["quality"] == 0


@pytest.mark.parametrize("change,needle", [
    ({"--source": "{tmp}/absent.avi"}, "is not a file"),
    ({"--source": "{tmp}/notavideo.avi"}, "cannot open"),
    ({"--frames": "1"}, "--frames must be at least 2"),
    ({"--budget-kbps": "0"}, "--budget-kbps must be positive"),
    ({"--budget-kbps": "-5"}, "--budget-kbps must be positive"),
    ({"--fps": "0"}, "--fps must be positive"),
    ({"--frames": "500"}, "fewer than the 500 requested"),
    ({"--out": "{tmp}/afile/out"}, "output folder"),
    ({"--model": "{tmp}/absent.pt"}, "no model"),
])
def test_bad_input_is_one_line_and_writes_nothing(small_clip, tmp_path, cli, change, needle):
    (tmp_path / "notavideo.avi").write_text("not a video")
    (tmp_path / "afile").write_text("x")
    args = {"--source": str(small_clip), "--frames": "2", "--budget-kbps": "100", "--out": str(tmp_path / "out"),
            "--model": str(TINY)}
    args.update({k: v.format(tmp=tmp_path) for k, v in change.items()})
    argv = ["calibrate", "--fps", "10"] + [x for kv in args.items() for x in kv]
    res = cli(*argv)
    errors = [line for line in res.err_lines if line.startswith("edgecodec: error:")]
    assert res.rc != 0 and len(errors) == 1 and needle in errors[0], res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra,needle", [
    (["--eval-qualities", "10", "10"], "--eval-qualities needs at least 2 distinct qualities"),
    (["--capture-timeout", "-5"], "--capture-timeout must be positive and finite, got -5"),
    (["--capture-timeout", "nan"], "--capture-timeout must be positive and finite, got nan"),
    (["--capture-timeout", "inf"], "--capture-timeout must be positive and finite, got inf"),
    (["--capture-timeout", "0"], "--capture-timeout must be positive and finite, got 0"),
    (["--fps", "inf"], "--fps must be positive and finite"),
    (["--budget-kbps", "inf"], "--budget-kbps must be positive and finite"),
    (["--interval", "inf"], "--interval must be >= 0 and finite"),
    (["--stream-frames", "1"], "--stream-frames must be at least 2"),
    (["--rate-window", "0"], "--rate-window must be positive and finite"),
    (["--key-interval", "-1"], "--key-interval must be >= 0 and finite"),
    (["--scene-change", "1.5"], "--scene-change must be in (0, 1]"),
    (["--chain", "0"], "--chain must be in 1..16, got 0"),
    (["--chain", "17"], "--chain must be in 1..16, got 17"),
])
def test_settings_no_calibration_can_use_are_refused(small_clip, tmp_path, cli, extra, needle):
    res = cli(*calibrate_args(small_clip, tmp_path / "out", "--frames", "2", "--budget-kbps", "100", *extra))
    assert res.rc == 1 and len(res.err_lines) == 1, res.err
    assert res.err.startswith(f"edgecodec: error: {needle}") and not (tmp_path / "out").exists()
