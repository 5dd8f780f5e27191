"""Frames for stream coding: a video file, a folder of images (in name order), or a camera.

Cameras and streams are the daemon's sources (``edge/sources.py``). ``fps`` samples the
source in time: from a 10 fps video, ``fps=1`` keeps every 10th frame (a folder of images
has no time, so every image is a frame).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .edge.sources import gstreamer_available, is_jetson, open_capture, plan_source
from .imageio import read_image
from .imageio import list_images

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".ts", ".m4v", ".mpg", ".mpeg", ".h264", ".h265",
                  ".hevc", ".y4m"}


def is_sequence(source: str) -> bool:
    """Whether ``source`` names several frames (a folder, a video file, a camera), not one image."""
    path = Path(source)
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES or not path.is_file()


class Frames:
    """An opened source: iterate for RGB uint8 frames; ``rate`` is the sampled frames per second."""

    def __init__(self, source: str, fps: float | None = None, limit: int | None = None,
                 max_pixels: int | None = None, start: int = 0):
        if fps is not None and not fps > 0:
            raise ValueError(f"--fps must be positive, got {fps:g}")
        if limit is not None and limit < 1:
            raise ValueError(f"--frames must be at least 1, got {limit}")
        if start < 0:
            raise ValueError(f"--start must be >= 0, got {start}")
        self.source, self.limit, self.max_pixels, self.start = source, limit, max_pixels, start
        self._cap = None if Path(source).is_dir() else open_capture(
            plan_source(source, gstreamer_available(), is_jetson()))
        native = self._native_fps()
        self.rate = fps or native or 1.0
        self._step = native / fps if fps and native else 1.0

    def _native_fps(self) -> float:
        if self._cap is None:
            return 0.0
        import cv2

        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return fps if 0 < fps < 1000 else 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frame in self.indexed():
            yield frame

    def indexed(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index in the source, frame) for every sampled frame."""
        frames = self._folder() if self._cap is None else self._capture()
        for count, item in enumerate(frames):
            if self.limit is not None and count >= self.limit:
                return
            yield item

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()

    def _folder(self) -> Iterator[tuple[int, np.ndarray]]:
        files = list_images(self.source)
        for index, path in enumerate(files[self.start:], self.start):
            yield index, read_image(path) if self.max_pixels is None else read_image(path, self.max_pixels)

    def _capture(self) -> Iterator[tuple[int, np.ndarray]]:
        index, next_kept, got = 0, float(self.start), 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                break
            if index >= next_kept - 1e-9:
                got += 1
                next_kept += self._step
                yield index, np.ascontiguousarray(bgr[:, :, ::-1])
            index += 1
        if not got:
            raise OSError(f"no frame could be read from {self.source!r}")
