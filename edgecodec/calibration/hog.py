"""Downstream check: does OpenCV's HOG people detector see the same people after compression?

Detector: ``cv2.HOGDescriptor()`` (64x128 window) with the default people SVM, run by
``detectMultiScale`` with the fixed parameters ``HOG_PARAMS`` (OpenCV's people-detection
sample's stride and scale step, grouping threshold 2, no mean-shift grouping).
The detections on the original frame are the reference. A decoded frame's detections are
matched to them greedily: all pairs with IoU >= 0.5, highest IoU first, each box used at
most once. Precision = matched / detections on decoded frames; recall = matched / reference
detections; both summed over frames (None when a denominator is 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

HOG_PARAMS = {"hitThreshold": 0.0, "winStride": (8, 8), "padding": (8, 8), "scale": 1.05,
              "groupThreshold": 2, "useMeanshiftGrouping": False}
IOU_THRESHOLD = 0.5
Box = tuple[int, int, int, int]  # x, y, width, height


def people_detector() -> cv2.HOGDescriptor:
    """The default HOG people detector."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def detect(hog: cv2.HOGDescriptor, image: np.ndarray) -> list[Box]:
    """People boxes in an RGB uint8 image."""
    boxes, _ = hog.detectMultiScale(np.ascontiguousarray(image[:, :, ::-1]), **HOG_PARAMS)
    return [tuple(int(v) for v in b) for b in np.asarray(boxes).reshape(-1, 4)]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(reference: Sequence[Box], test: Sequence[Box], threshold: float = IOU_THRESHOLD) -> int:
    """Greedy one-to-one matches with IoU >= ``threshold``, highest IoU first."""
    pairs = sorted(((iou(r, t), i, j) for i, r in enumerate(reference) for j, t in enumerate(test)), reverse=True)
    used_ref, used_test, matched = set(), set(), 0
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_ref and j not in used_test:
            used_ref.add(i)
            used_test.add(j)
            matched += 1
    return matched


@dataclass
class Agreement:
    """Detection counts over frames: on the originals, on the decoded frames, and matched."""

    reference: int = 0
    test: int = 0
    matched: int = 0

    @property
    def precision(self) -> float | None:
        return self.matched / self.test if self.test else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.reference if self.reference else None

    def add(self, reference: Sequence[Box], test: Sequence[Box]) -> None:
        """Count one frame."""
        self.reference += len(reference)
        self.test += len(test)
        self.matched += match(reference, test)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "detections": self.test, "matched": self.matched,
                "precision": self.precision, "recall": self.recall}
