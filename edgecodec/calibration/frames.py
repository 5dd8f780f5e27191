"""Frames from the site's real source: spread over time (split into calibration and held-out halves),
and a clip of consecutive frames at the planned frame rate (the rate table streams it).

A video file is sampled evenly over its whole length (frame indices ``linspace(0, count-1, n)``,
read sequentially: exact for any container). A live source (camera, RTSP, pipeline) keeps one
frame every ``interval`` seconds, reading continuously so that the kept frame is the newest,
and fails if ``n`` frames do not arrive within ``timeout`` seconds.
The first half in time calibrates; the second half is held out for every measurement.

The spread frames are seconds apart, so they cannot measure a stream (delta frames, the key
interval and the frame rate matter): ``clip`` reads ``n`` consecutive frames at the planned
``fps`` instead, from the start of a file (every native/fps-th frame, as ``videoio.Frames``
samples) or from a live source (one frame every 1/fps seconds), cropped to even width and
height (what x264's 4:2:0 needs, so both codecs code the same pixels).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..edge.sources import SourcePlan, gstreamer_available, is_jetson, open_capture, plan_source
from ..imageio import to_rgb8, write_png

Tick = Callable[[], None]


@dataclass
class Frame:
    """One captured RGB frame: its position in the source and when (seconds from the start)."""

    index: int
    seconds: float
    image: np.ndarray

    @property
    def name(self) -> str:
        return f"frame-{self.index:06d}.png"


def plan(source: str) -> SourcePlan:
    """How to open ``source`` (raises ValueError for a missing file or a malformed source)."""
    return plan_source(source, gstreamer_available(), is_jetson())


def spread_indices(count: int, n: int) -> list[int]:
    """``n`` distinct frame indices spread evenly over ``count`` frames (first and last included)."""
    if count < n:
        raise ValueError(f"the video has {count} frame(s), fewer than the {n} requested")
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, n)})


def _frame_count(source_plan: SourcePlan) -> int:
    """Frames in a video file: the container's count, or counted by reading when it has none."""
    cap = open_capture(source_plan)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count > 0:
            return count
        count = 0
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()


def _read_indices(source_plan: SourcePlan, indices: list[int], fps: float, tick: Tick) -> tuple[list[Frame], int]:
    """(the frames at ``indices``, frames read): sequential reading, stops early if the file is shorter."""
    cap = open_capture(source_plan)
    wanted, frames, position = set(indices), [], 0
    try:
        while position <= indices[-1] and cap.grab():
            if position in wanted:
                ok, bgr = cap.retrieve()
                if not ok:
                    raise OSError(f"cannot decode frame {position} of {source_plan.target}")
                frames.append(Frame(position, position / fps if fps > 0 else 0.0, to_rgb8(bgr, "frame")))
                tick()
            position += 1
    finally:
        cap.release()
    return frames, position


def sample_file(source_plan: SourcePlan, n: int, tick: Tick = lambda: None) -> list[Frame]:
    """``n`` frames spread evenly over a video file (OSError if not even its first frame decodes)."""
    cap = open_capture(source_plan)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not cap.read()[0]:
            raise OSError(f"cannot decode a frame of {source_plan.target!r}: not a video OpenCV can read, "
                          "or a corrupt one")
    finally:
        cap.release()
    indices = spread_indices(_frame_count(source_plan), n)
    frames, read = _read_indices(source_plan, indices, fps, tick)
    if len(frames) < len(indices):  # the container over-stated its length: spread over what is there
        frames, _ = _read_indices(source_plan, spread_indices(read, n), fps, tick)
    return frames


def sample_live(source_plan: SourcePlan, n: int, interval: float, timeout: float,
                tick: Tick = lambda: None, clock: Callable[[], float] = time.monotonic) -> list[Frame]:
    """One frame every ``interval`` seconds from a live source, ``n`` in all, within ``timeout`` s."""
    cap = open_capture(source_plan)
    start = clock()
    frames: list[Frame] = []
    due = start
    try:
        while len(frames) < n:
            now = clock()
            if now - start > timeout:
                raise OSError(f"got {len(frames)} of {n} frames from {source_plan.target!r} in {timeout:g} s")
            ok, bgr = cap.read()
            if not ok or bgr is None:
                time.sleep(0.05)
                continue
            if now >= due:
                frames.append(Frame(len(frames), now - start, to_rgb8(bgr, "frame")))
                due = now + interval  # at least `interval` apart, however slow a read was
                tick()
    finally:
        cap.release()
    return frames


def capture(source_plan: SourcePlan, n: int, interval: float, timeout: float,
            tick: Tick = lambda: None) -> list[Frame]:
    """``n`` frames from the planned source (a file evenly over its length, a live source over time)."""
    frames = (sample_live(source_plan, n, interval, timeout, tick) if source_plan.live
              else sample_file(source_plan, n, tick))
    if len(frames) < n:
        raise OSError(f"{source_plan.target}: only {len(frames)} readable frame(s), {n} requested")
    shapes = {f.image.shape for f in frames}
    if len(shapes) > 1:
        raise OSError(f"{source_plan.target}: the frame size changed during capture ({sorted(shapes)})")
    return frames


def clip(source_plan: SourcePlan, source: str, n: int, fps: float, timeout: float,
         tick: Tick = lambda: None) -> list[Frame]:
    """At most ``n`` consecutive frames at ``fps`` (a file shorter than that gives what it has, at least 2)."""
    if source_plan.live:
        frames = sample_live(source_plan, n, 1.0 / fps, timeout, tick)
    else:
        from ..videoio import Frames

        reader, frames = Frames(source, fps, n), []
        try:
            for index, image in reader.indexed():
                frames.append(Frame(index, len(frames) / fps, image))
                tick()
        finally:
            reader.close()
    if len(frames) < 2:
        raise OSError(f"{source_plan.target}: {len(frames)} frame(s) at {fps:g} fps, a stream needs at least 2")
    h, w = frames[0].image.shape[:2]
    return [Frame(f.index, f.seconds, np.ascontiguousarray(f.image[:h - h % 2, :w - w % 2])) for f in frames]


def split(frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    """(calibration, held-out): the first and second half in time (the held-out half gets the odd frame)."""
    half = len(frames) // 2
    return frames[:half], frames[half:]


def save(frames: list[Frame], folder: Path) -> list[str]:
    """Write the frames as PNGs into ``folder`` (atomically); returns the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        write_png(folder / f.name, f.image)
    return [f.name for f in frames]
