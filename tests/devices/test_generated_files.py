"""What the profiles generate, as data: capture pipelines (with software fallback), device.toml, unit, facts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from system_tools import require
from devices_harness import DEVICES, JETSON_PROFILES, PROFILES

from edgecodec.edge.config import DaemonConfig
from edgecodec.edge.deployment import device_toml, install_facts, systemd_unit
from edgecodec.edge.profile import (NVARGUS, NVCONV, NVDEC, Capabilities, CsiCapture, FileCapture, RtspCapture,
                                    UsbCapture, capture_source, declared_capabilities)
from edgecodec.edge.sources import CSI_PIPELINE, RTSP_PIPELINE, plan_source
from edgecodec.common.config import build_config, read_toml

JETSON = Capabilities(True, frozenset({NVARGUS, NVDEC, NVCONV}))
GST_ONLY = Capabilities(True)  # an OpenCV with GStreamer but no NVIDIA elements (x86 with system OpenCV)
PIP = Capabilities(False)  # pip's OpenCV
CSI = CsiCapture(kind="csi", sensor_id=1, framerate=60, fallback="/dev/video0")
USB = UsbCapture(kind="usb", device="/dev/video2", framerate=15)
RTSP = RtspCapture(kind="rtsp", url="rtsp://cam.local/main", codec="h264")


def _elements(pipeline: str) -> list[str]:
    """The element names of a GStreamer pipeline, in order."""
    return [part.split()[0] for part in pipeline.split(" ! ") if not part.startswith(("video/", "image/"))]


def test_csi_on_a_jetson_is_the_isp_pipeline_at_the_profile_size():
    source = capture_source(CSI, "1280x720", JETSON)
    assert _elements(source) == ["nvarguscamerasrc", "nvvidconv", "videoconvert", "appsink"]
    assert "sensor-id=1" in source and "width=1280,height=720,framerate=60/1" in source
    assert "video/x-raw(memory:NVMM)" in source and source.endswith("appsink drop=true max-buffers=1")


def test_csi_at_1080p30_is_the_daemons_own_csi_preset():
    csi = CsiCapture(kind="csi", sensor_id=0, framerate=30)
    assert capture_source(csi, "1920x1080", JETSON) == CSI_PIPELINE.format(sensor=0)


@pytest.mark.parametrize("caps", [GST_ONLY, PIP])
def test_csi_without_nvargus_falls_back(caps):
    assert capture_source(CSI, "1280x720", caps) == "/dev/video0"
    with pytest.raises(ValueError, match="no fallback"):
        capture_source(CsiCapture(kind="csi"), "1280x720", caps)


def test_usb_is_v4l2src_with_gstreamer_and_the_device_node_without():
    raw = capture_source(USB, "1280x720", GST_ONLY)
    assert _elements(raw) == ["v4l2src", "videoconvert", "appsink"] and "device=/dev/video2" in raw
    assert "video/x-raw,width=1280,height=720,framerate=15/1" in raw
    mjpeg = capture_source(USB.model_copy(update={"format": "mjpeg"}), "1920x1080", JETSON)
    assert _elements(mjpeg) == ["v4l2src", "jpegdec", "videoconvert", "appsink"] and "image/jpeg," in mjpeg
    assert capture_source(USB, "1280x720", PIP) == "/dev/video2"
    assert plan_source("/dev/video2", False, False).api == "CAP_V4L2"


def test_rtsp_uses_nvdec_on_a_jetson_and_ffmpeg_elsewhere():
    h264 = capture_source(RTSP, "1920x1080", JETSON)
    assert h264 == RTSP_PIPELINE.format(url="rtsp://cam.local/main")
    assert _elements(h264) == ["rtspsrc", "rtph264depay", "h264parse", "nvv4l2decoder", "nvvidconv", "videoconvert",
                               "appsink"]
    h265 = capture_source(RTSP.model_copy(update={"codec": "h265"}), "1920x1080", JETSON)
    assert _elements(h265)[1:4] == ["rtph265depay", "h265parse", "nvv4l2decoder"]
    for caps in (GST_ONLY, PIP, Capabilities(True, frozenset({NVARGUS, NVCONV}))):  # no NVDEC: software
        assert capture_source(RTSP, "1920x1080", caps) == "rtsp://cam.local/main"
    assert plan_source("rtsp://cam.local/main", False, False).api == "CAP_FFMPEG"


def test_file_is_the_path_everywhere():
    clip = FileCapture(kind="file", path="clip.avi")
    assert {capture_source(clip, "640x480", caps) for caps in (JETSON, GST_ONLY, PIP)} == {"clip.avi"}


@pytest.mark.parametrize("name", PROFILES)
def test_each_profile_declares_a_source_the_daemon_can_plan(name, token_file):
    cfg = build_config(DaemonConfig, DEVICES / f"{name}.toml", {"token_file": str(token_file)})
    kind = cfg.device.capture.kind
    expected = {"csi": ["nvarguscamerasrc", "nvvidconv"], "rtsp": ["rtspsrc", "nvv4l2decoder", "nvvidconv"]}
    if cfg.device.platform == "jetson":
        assert set(expected[kind]) <= set(_elements(cfg.source))
        assert plan_source(cfg.source, True, True).api == "CAP_GSTREAMER"
        if kind == "csi":
            width, height = cfg.device.resolution.split("x")
            assert f"width={width},height={height}," in cfg.source
    else:
        assert declared_capabilities(cfg.device) == PIP and kind == "file" and "!" not in cfg.source


def _template(name: str, token_file: Path, **flags) -> DaemonConfig:
    return build_config(DaemonConfig, DEVICES / f"{name}.toml", {"token_file": str(token_file), **flags})


@pytest.mark.parametrize("name", PROFILES)
def test_rendered_device_toml_reads_back_as_the_same_configuration(name, token_file, tmp_path):
    cfg = _template(name, token_file, server="https://nvr.site:8443", device_id="gate-7")
    path = tmp_path / "device.toml"
    path.write_text(device_toml(cfg, "/dev/video9", "source: a test"))
    again = build_config(DaemonConfig, path, {})
    assert again == cfg.model_copy(update={"source": "/dev/video9"})
    assert read_toml(path)["device_id"] == "gate-7"


def _unit_lines(name: str, token_file: Path) -> list[str]:
    cfg = _template(name, token_file)
    return systemd_unit(cfg, Path("/opt/edgecodec/venv"), Path("/etc/edgecodec/device.toml")).splitlines()


HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
             "RestrictSUIDSGID=yes", "CapabilityBoundingSet=", "ReadWritePaths=/var/lib/edgecodec/spool"]


@pytest.mark.parametrize("name", JETSON_PROFILES)
def test_unit_runs_the_daemon_as_its_user_with_the_token_as_a_credential(name, token_file):
    lines = _unit_lines(name, token_file)
    assert {"User=edgecodec", "Group=edgecodec", "SupplementaryGroups=video", "Restart=on-failure",
            "RestartSec=10", "StartLimitIntervalSec=600", "StartLimitBurst=5", "WantedBy=multi-user.target",
            f"LoadCredential=token:{token_file}", *HARDENING} <= set(lines)
    assert ("ExecStart=/opt/edgecodec/venv/bin/edgecodec daemon --config /etc/edgecodec/device.toml "
            "--token-file %d/token") in lines
    assert not any(line.startswith(("PrivateDevices", "MemoryDenyWriteExecute", "Restart=always")) for line in lines)
    argus = "BindPaths=-/tmp/argus_socket" in lines
    assert argus == (name == "orin-nano-8gb")  # only the CSI profile talks to nvargus-daemon
    assert ("After=network-online.target nvargus-daemon.service" in lines) == argus


def test_unit_refuses_paths_systemd_would_split(token_file):
    cfg = _template("orin-nano-8gb", token_file)
    with pytest.raises(ValueError, match="without spaces"):
        systemd_unit(cfg, Path("/opt/edge codec/venv"), Path("/etc/edgecodec/device.toml"))
    with pytest.raises(ValueError, match="no \\[device\\] table"):
        systemd_unit(cfg.model_copy(update={"device": None}), Path("/opt/v"), Path("/etc/d.toml"))


def test_systemd_accepts_the_unit(token_file, tmp_path):
    """systemd-analyze verify: every key known, every value parsed, ExecStart executable."""
    require("systemd-analyze", "systemd")
    venv = Path(sys.executable).parent.parent  # the test's venv: its bin/edgecodec exists
    cfg = _template("orin-nano-8gb", token_file)
    unit = tmp_path / "edgecodec-daemon.service"
    unit.write_text(systemd_unit(cfg, venv, DEVICES / "orin-nano-8gb.toml"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_install_facts_are_what_the_script_reads(token_file):
    facts = install_facts(_template("agx-thor", token_file))
    assert facts == {"board": "Jetson AGX Thor", "platform": "jetson", "jetpack": "7.0 7.1", "cuda_arch": "110",
                     "tensorrt": "10.13", "precision": "fp16", "resolution": "3840x2160",
                     "engines": "/var/lib/edgecodec/engines",
                     "plugin": "/opt/edgecodec/lib/libedgecodec_trt_plugins.so",
                     "spool": "/var/lib/edgecodec/spool", "token_file": str(token_file), "model": ""}
    assert install_facts(_template("orin-nano-8gb", token_file))["cuda_arch"] == "87"
