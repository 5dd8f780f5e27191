"""Detection agreement: IoU, greedy matching, precision and recall (exact values on synthetic boxes)."""
from __future__ import annotations

import numpy as np
import pytest

from edgecodec.calibration.hog import Agreement, detect, iou, match, people_detector


def test_iou_exact_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges
    assert iou((0, 0, 10, 20), (0, 10, 10, 10)) == pytest.approx(100 / 200)


def test_greedy_matching_is_one_to_one_and_takes_the_best_pair_first():
    reference = [(0, 0, 10, 10), (100, 100, 10, 10)]
    # two candidates for the first box (IoU 0.818 and 0.833), none near the second
    test = [(1, 0, 10, 10), (0, 0, 10, 12), (300, 300, 10, 10)]
    assert match(reference, test) == 1
    assert match(reference, [(2, 0, 10, 10)]) == 1  # IoU 0.667
    assert match(reference, [(5, 0, 10, 10)]) == 0  # IoU 0.333 < 0.5
    assert match([(0, 0, 10, 10)], [(0, 0, 10, 10), (0, 0, 10, 10)]) == 1
    assert match([], test) == 0 and match(reference, []) == 0


def test_precision_and_recall_sum_over_frames():
    agreement = Agreement()
    agreement.add([(0, 0, 10, 10), (50, 50, 10, 10)], [(0, 0, 10, 10)])  # 1 of 2 found
    agreement.add([(0, 0, 10, 10)], [(1, 1, 10, 10), (200, 200, 5, 5)])  # found, plus a false one
    agreement.add([], [])
    assert (agreement.reference, agreement.test, agreement.matched) == (3, 3, 2)
    assert agreement.precision == pytest.approx(2 / 3) and agreement.recall == pytest.approx(2 / 3)
    assert Agreement().precision is None and Agreement().recall is None
    assert Agreement(reference=4, test=0).to_dict() == {"reference": 4, "detections": 0, "matched": 0,
                                                      "precision": None, "recall": 0.0}


def test_detector_finds_nothing_on_a_flat_image_and_returns_boxes_as_tuples():
    assert detect(people_detector(), np.full((256, 192, 3), 128, np.uint8)) == []
