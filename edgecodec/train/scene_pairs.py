"""(reference, current) frame pairs for training the conditional entropy model.

Two sources, mixed:
- a fixed camera's video: a frame as the long-term reference and a later frame (up to
  ``max_gap`` frames on) as the current one; only the frames the caller allows (train on
  the first half of a video, evaluate on the second);
- still photos made into pairs: the same crop seen twice with independent camera noise,
  a slow brightness drift, a region that moved by a few pixels and a pasted object from
  another photo (what a person walking through a static scene does to the frame).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .data import CropSampler

Pair = tuple[np.ndarray, np.ndarray]


def video_pairs(frames: list[np.ndarray], count: int, max_gap: int, rng: np.random.Generator) -> Iterator[Pair]:
    """``count`` random (earlier, later) pairs of the given frames, at most ``max_gap`` apart."""
    if len(frames) < 2:
        raise ValueError("need at least two video frames for pairs")
    for _ in range(count):
        i = int(rng.integers(len(frames) - 1))
        j = int(min(len(frames) - 1, i + rng.integers(1, max_gap + 1)))
        yield frames[i], frames[j]


def synthetic_pair(photos: CropSampler, rng: np.random.Generator) -> Pair:
    """A static scene and the same scene later: noise, drift, a moved region, a pasted object."""
    scene = photos.sample(rng).astype(np.float32)
    current = scene * rng.uniform(0.96, 1.04) + rng.uniform(-4, 4)
    _move_region(current, scene, rng)
    _paste_object(current, photos.sample(rng).astype(np.float32), rng)
    sigma = rng.uniform(0.5, 4.0)
    ref = scene + rng.normal(0, sigma, scene.shape)
    cur = current + rng.normal(0, sigma, scene.shape)
    return _u8(ref), _u8(cur)


def _move_region(current: np.ndarray, scene: np.ndarray, rng: np.random.Generator) -> None:
    h, w = scene.shape[:2]
    rh, rw = int(rng.integers(h // 8, h // 2)), int(rng.integers(w // 8, w // 2))
    y, x = int(rng.integers(0, h - rh)), int(rng.integers(0, w - rw))
    dy, dx = (int(v) for v in rng.integers(-4, 5, 2))
    ys, xs = np.clip(np.arange(y, y + rh) - dy, 0, h - 1), np.clip(np.arange(x, x + rw) - dx, 0, w - 1)
    current[y:y + rh, x:x + rw] = scene[np.ix_(ys, xs)] * (current[y:y + rh, x:x + rw].mean() /
                                                           max(scene[y:y + rh, x:x + rw].mean(), 1.0))


def _paste_object(current: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> None:
    h, w = current.shape[:2]
    oh, ow = int(rng.integers(h // 10, h // 3)), int(rng.integers(w // 16, w // 5))
    y, x = int(rng.integers(0, h - oh)), int(rng.integers(0, w - ow))
    yy, xx = np.mgrid[:oh, :ow]
    inside = ((yy - oh / 2) / (oh / 2)) ** 2 + ((xx - ow / 2) / (ow / 2)) ** 2 <= 1.0  # an ellipse
    patch = current[y:y + oh, x:x + ow]
    patch[inside] = other[:oh, :ow][inside]


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)
