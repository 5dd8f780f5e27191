"""Source strings -> capture plans, as data: every kind, with and without GStreamer, on and off a Jetson."""
from __future__ import annotations

import pytest

from edgecodec.edge.sources import NO_GSTREAMER, SourcePlan, plan_source

PIPE = "videotestsrc ! videoconvert ! appsink"


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(b"x")
    return str(path)


CASES = [  # spec, gstreamer, jetson -> kind, api, live
    ("0", False, False, "v4l2", "CAP_V4L2", True),
    ("/dev/video2", False, True, "v4l2", "CAP_V4L2", True),
    ("rtsp://cam.local/stream", False, False, "stream", "CAP_FFMPEG", True),
    ("rtsp://cam.local/stream", True, False, "stream", "CAP_FFMPEG", True),
    ("rtsp://cam.local/stream", True, True, "gstreamer", "CAP_GSTREAMER", True),
    ("https://cam.local/mjpg", True, True, "stream", "CAP_FFMPEG", True),
    (PIPE, True, False, "gstreamer", "CAP_GSTREAMER", True),
    ("csi:1", True, True, "gstreamer", "CAP_GSTREAMER", True),
]


@pytest.mark.parametrize("spec,gst,jetson,kind,api,live", CASES)
def test_plans(spec, gst, jetson, kind, api, live):
    plan = plan_source(spec, gst, jetson)
    assert (plan.kind, plan.api, plan.live) == (kind, api, live)


def test_v4l2_index_is_an_int_and_files_are_not_live(video):
    assert plan_source("3", False, False).target == 3
    assert plan_source(video, False, False) == SourcePlan("file", video, "CAP_ANY", False)


def test_jetson_presets_expand_to_hardware_pipelines():
    assert "nvarguscamerasrc sensor-id=1" in plan_source("csi:1", True, True).target
    rtsp = plan_source("rtsp://cam/s", True, True).target
    assert rtsp.startswith("rtspsrc location=rtsp://cam/s") and "nvv4l2decoder" in rtsp


@pytest.mark.parametrize("spec", [PIPE, "csi:0"])
def test_pipelines_without_gstreamer_explain_the_fix(spec):
    with pytest.raises(ValueError) as e:
        plan_source(spec, False, True)
    assert str(e.value) == NO_GSTREAMER and "--system-site-packages" in NO_GSTREAMER


@pytest.mark.parametrize("spec", ["", "  ", "/no/such/file.avi", "csi:x", "/dev/videox"])
def test_unknown_sources_are_errors(spec):
    with pytest.raises(ValueError):
        plan_source(spec, True, True)
