"""Delta-frame scenes for the codec tests."""
from __future__ import annotations

import numpy as np


def next_frame(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same scene a moment later: camera noise everywhere and one region moved by a few pixels."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    moved = image.astype(np.int16)
    y, x, dy, dx = h // 4, w // 3, 5, -7
    moved[y:y + h // 3, x:x + w // 4] = image[y - dy:y - dy + h // 3, x - dx:x - dx + w // 4]
    return np.clip(moved + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)
