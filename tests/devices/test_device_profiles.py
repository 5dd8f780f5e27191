"""Every shipped profile validates with the daemon's own schema; broken ones fail in one line.

The profiles name /etc/edgecodec/token, which does not exist on CI: the validation tests pass
``--token-file`` with a temporary file (the daemon rightly insists that its token file exists;
``edgecodec doctor --print`` uses a schema in which it need not exist yet), and ``--spool``
with a temporary folder, so that no test writes under /var/lib/edgecodec.
"""
from __future__ import annotations

import copy

import pytest
from devices_harness import DEVICES, JETSON_PROFILES, PROFILES, profile_data

from edgecodec.edge.config import DaemonConfig
from edgecodec.edge.profile import CsiCapture, DeviceProfile, FileCapture, RtspCapture, UsbCapture
from edgecodec.common.config import build_config

# What each JetPack ships (docs/jetson.md): CUDA, TensorRT, compute capability of its boards.
JETPACK_STACK = {"6.1": ("12.6", "10.3", "8.7"), "6.2": ("12.6", "10.3", "8.7"),
                 "7.0": ("13.0", "10.13", "11.0"), "7.1": ("13.0", "10.13", "11.0")}


def test_the_five_boards_have_profiles():
    assert PROFILES == ["agx-orin-64gb", "agx-thor", "orin-nano-8gb", "orin-nx-16gb", "x86-dev"]


@pytest.mark.parametrize("name", PROFILES)
def test_profile_validates_with_the_daemon_schema(name, token_file):
    cfg = build_config(DaemonConfig, DEVICES / f"{name}.toml", {"token_file": str(token_file)})
    assert cfg.device is not None and cfg.source and str(cfg.spool).startswith("/var/")


@pytest.mark.parametrize("name", PROFILES)
def test_daemon_validate_config_accepts_the_profile(name, token_file, cli, tmp_path):
    """With --spool in a temporary folder: the profile's /var/lib/edgecodec/spool is the installer's."""
    result = cli("daemon", "--config", DEVICES / f"{name}.toml", "--token-file", token_file,
                 "--spool", tmp_path / "spool", "--validate-config")
    assert result.rc == 0 and "valid" in result.out, result.err
    assert not (tmp_path / "spool").exists()  # validation checks, and creates nothing


@pytest.mark.parametrize("name", JETSON_PROFILES)
def test_jetson_profiles_match_what_their_jetpack_ships(name, token_file):
    device = build_config(DaemonConfig, DEVICES / f"{name}.toml", {"token_file": str(token_file)}).device
    for release in device.jetpack:
        assert JETPACK_STACK[release] == (device.cuda, device.tensorrt, device.compute_capability), release
    assert device.plugin is not None and device.hardware_decoder


def test_profiles_scale_with_the_board():
    """Pixels per second grow with the board's memory; the Orin Nano gets int8, where it gains most."""
    rates = {}
    for name in JETSON_PROFILES:
        data = profile_data(name)
        w, h = (int(v) for v in data["device"]["resolution"].split("x"))
        rates[data["device"]["memory_gb"]] = w * h * data["fps"]
    assert [rates[m] for m in sorted(rates)] == sorted(rates.values())
    assert profile_data("orin-nano-8gb")["device"]["precision"] == "int8"
    assert profile_data("agx-thor")["device"]["compute_capability"] == "11.0"


def test_every_field_has_a_description():
    for model in (DeviceProfile, CsiCapture, UsbCapture, RtspCapture, FileCapture, DaemonConfig):
        assert all(f.description for f in model.model_fields.values()), model.__name__


def _broken(change):
    data = copy.deepcopy(profile_data("orin-nano-8gb"))
    change(data)
    return data


BROKEN = [  # change, what the one error line names
    (lambda d: d["device"].update(colour="red"), "device.colour: Extra inputs are not permitted"),
    (lambda d: d["device"]["capture"].update(zoom=2), "device.capture.csi.zoom: Extra inputs are not permitted"),
    (lambda d: d["device"].update(memory_gb="eight"), "device.memory_gb"),
    (lambda d: d["device"].update(resolution="1280*720"), "expected WIDTHxHEIGHT"),
    (lambda d: d["device"].update(resolution="1281x720"), "sides must be even"),
    (lambda d: d["device"].update(precision="int4"), "device.precision"),
    (lambda d: d["device"]["capture"].update(kind="firewire"), "device.capture"),
    (lambda d: d["device"].update(jetpack=[]), "a jetson profile needs jetpack"),
    (lambda d: d["device"].update(platform="x86") or d["device"]["capture"].pop("fallback"),
     "nvarguscamerasrc is unavailable"),
    (lambda d: d["device"].update(capture={"kind": "rtsp", "url": "http://cam"}), "device.capture.rtsp.url"),
    (lambda d: d.update(fps=-1), "fps"),
]


@pytest.mark.parametrize("change,needle", BROKEN)
def test_broken_profiles_fail_in_one_line(change, needle, write_profile, token_file, cli):
    path = write_profile(_broken(change))
    result = cli("daemon", "--config", path, "--token-file", token_file, "--validate-config")
    assert result.rc == 1 and len(result.err_lines) == 1 and needle in result.err, result.err
    assert result.err.startswith("edgecodec: error: ") and "source: Field required" not in result.err


def test_an_explicit_source_wins_over_the_preset(write_profile, token_file):
    data = _broken(lambda d: d.update(source="rtsp://cam/main"))
    cfg = build_config(DaemonConfig, write_profile(data), {"token_file": str(token_file)})
    assert cfg.source == "rtsp://cam/main"
    flagged = build_config(DaemonConfig, write_profile(data), {"token_file": str(token_file), "source": "/dev/video2"})
    assert flagged.source == "/dev/video2"


def test_a_plain_device_toml_needs_no_device_table(write_profile, token_file):
    data = {"source": "0", "server": "https://nvr.example", "device_id": "cam-1", "spool": "/var/tmp/s"}
    cfg = build_config(DaemonConfig, write_profile(data), {"token_file": str(token_file)})
    assert cfg.device is None and cfg.source == "0"
