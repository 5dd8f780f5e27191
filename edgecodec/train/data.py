"""Random training crops from a folder of photos.

Photos are downscaled by a random factor (default 0.5..0.75) before cropping,
which removes JPEG artefacts and sensor noise the model would otherwise spend
bits on; then a random crop and a random horizontal flip.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..imageio import list_images

class CropSampler:
    """Holds the decoded photos in memory and draws random crops."""

    def __init__(self, folder: str | Path, crop: int, scale_range: tuple[float, float] = (0.5, 0.75)):
        self.crop, self.scale_range = crop, scale_range
        self.images = []
        for path in list_images(folder):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                continue
            self.images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not self.images:
            raise FileNotFoundError(f"no readable images in {folder}")

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One uint8 (crop, crop, 3) patch."""
        img = self.images[rng.integers(len(self.images))]
        h, w = img.shape[:2]
        lo = self.crop / min(h, w)
        s = max(rng.uniform(*self.scale_range), lo)
        if s < 1.0:
            img = cv2.resize(img, (max(self.crop, round(w * s)), max(self.crop, round(h * s))),
                             interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        if h < self.crop or w < self.crop:
            img = cv2.resize(img, (max(w, self.crop), max(h, self.crop)), interpolation=cv2.INTER_CUBIC)
            h, w = img.shape[:2]
        y, x = rng.integers(h - self.crop + 1), rng.integers(w - self.crop + 1)
        patch = img[y:y + self.crop, x:x + self.crop]
        return patch[:, ::-1] if rng.random() < 0.5 else patch

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        """Float batch (size, 3, crop, crop) in [0, 1]."""
        arr = np.stack([self.sample(rng) for _ in range(size)])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
