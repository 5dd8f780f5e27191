"""Frame sampling from files and live sources, the time split, and the PNGs."""
from __future__ import annotations

import itertools

import pytest

from edgecodec.calibration import frames
from edgecodec.edge.sources import SourcePlan
from edgecodec.imageio import read_image


def test_spread_indices_cover_the_whole_length():
    assert frames.spread_indices(40, 6) == [0, 8, 16, 23, 31, 39]
    assert frames.spread_indices(5, 5) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="fewer than"):
        frames.spread_indices(3, 4)


def test_a_file_is_sampled_evenly_and_split_by_time(small_clip, tmp_path):
    got = frames.capture(frames.plan(str(small_clip)), 4, interval=2.0, timeout=10)
    assert [f.index for f in got] == [0, 4, 7, 11]
    assert [f.seconds for f in got] == pytest.approx([0.0, 0.4, 0.7, 1.1])  # 10 fps
    calibration, held_out = frames.split(got)
    assert [f.index for f in calibration] == [0, 4] and [f.index for f in held_out] == [7, 11]
    assert frames.split(got[:3])[0] == got[:1]  # the odd frame goes to the held-out half
    names = frames.save(got, tmp_path / "frames")
    assert names == ["frame-000000.png", "frame-000004.png", "frame-000007.png", "frame-000011.png"]
    assert (read_image(tmp_path / "frames" / names[1]) == got[1].image).all()  # lossless


def test_a_file_with_too_few_frames_is_an_error(small_clip):
    with pytest.raises(ValueError, match="12 frame"):
        frames.capture(frames.plan(str(small_clip)), 13, interval=2.0, timeout=10)


def test_a_live_source_keeps_one_frame_per_interval(small_clip):
    live = SourcePlan("stream", str(small_clip), "CAP_ANY", True)
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.5  # noqa: E731 - every read advances a fake clock by 0.5 s
    got = frames.sample_live(live, 3, interval=1.0, timeout=100, clock=clock)
    assert [round(f.seconds, 1) for f in got] == [0.5, 1.5, 2.5]  # the newest frame at each due time
    assert [f.index for f in got] == [0, 1, 2]


def test_a_live_source_that_stalls_times_out(small_clip):
    live = SourcePlan("stream", str(small_clip), "CAP_ANY", True)
    ticks = itertools.count()
    with pytest.raises(OSError, match="got .* of 50 frames"):
        frames.sample_live(live, 50, interval=1.0, timeout=3.0, clock=lambda: next(ticks) * 1.0)


def test_a_missing_source_is_refused_before_opening(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        frames.plan(str(tmp_path / "absent.avi"))


def test_a_container_that_overstates_its_length_is_sampled_over_the_real_one(small_clip, monkeypatch):
    monkeypatch.setattr(frames, "_frame_count", lambda plan: 40)  # the header claims 40, the file has 12
    got = frames.sample_file(frames.plan(str(small_clip)), 4)
    assert [f.index for f in got] == [0, 4, 7, 11]


def test_a_file_no_frame_of_which_decodes_is_named_as_such(tmp_path):
    text = tmp_path / "notes.png"  # FFmpeg opens it as a one-frame image, then cannot decode it
    text.write_bytes(b"hello\n")
    with pytest.raises(OSError, match="cannot decode a frame of .*notes.png.*not a video OpenCV can read"):
        frames.capture(frames.plan(str(text)), 2, interval=2.0, timeout=10)
