"""The stream's rate statistics, the rate table and the quality choice against a budget."""
from __future__ import annotations

import numpy as np
import pytest

from edgecodec.calibration.rate import (DELTA, KEY, choose_quality, expected_kbps, key_period, kbps, max_fps,
                                        stream_row, window_averages)

FPS = 10.0


def clip(key: int, delta: int, n: int = 20) -> tuple[list[int], list[int]]:
    """A key frame then ``n - 1`` delta frames (bytes, kinds)."""
    return [key] + [delta] * (n - 1), [KEY] + [DELTA] * (n - 1)


def table(scale: dict[float, float], key_interval: int = 600) -> list:
    """Rows whose frames grow with quality: a 20-frame clip, key frame 30x the delta frames."""
    return [stream_row(q, *clip(3000 * s, 100 * s), fps=FPS, key_interval=key_interval) for q, s in scale.items()]


SCALES = {q: 2 ** (q / 25) for q in (0.0, 25.0, 50.0, 75.0, 100.0)}


def test_a_short_clip_is_extended_to_one_key_interval():
    sizes, kinds = clip(3000, 100, 20)
    period = key_period(sizes, kinds, 600)
    assert period.size == 600 and period[0] == 8 * 3000 and set(period[1:]) == {8 * 100}
    assert key_period(sizes, kinds, 10).tolist() == [8.0 * s for s in sizes]  # longer than the interval: as is
    assert key_period(sizes, kinds, 0).tolist() == [8 * 100.0] * 19  # no periodic key frames
    assert key_period([500, 600], [KEY, KEY], 600).tolist() == [4000.0, 4800.0]  # intra: as measured


def test_the_mean_amortises_the_key_frame_and_the_window_sees_the_busy_stretch():
    row = stream_row(50, *clip(3000, 100), fps=FPS, key_interval=600)  # a key frame a minute
    assert (row.key_frames, row.delta_frames) == (1, 19)
    assert row.mean_kbps == pytest.approx(kbps(8 * (3000 + 599 * 100) / 600, FPS))
    assert row.window_kbps == pytest.approx(kbps(8 * 100, FPS))  # 50 of 600 windows hold the key frame
    assert row.required_kbps == row.mean_kbps > row.window_kbps
    busy = stream_row(50, [3000] + [100] * 9 + [1000] * 10, [KEY] + [DELTA] * 19, fps=FPS, key_interval=600)
    assert busy.required_kbps == busy.window_kbps > busy.mean_kbps  # half the time busy: the percentile plans it


def test_window_averages_are_cyclic_means():
    np.testing.assert_allclose(window_averages(np.array([4.0, 0, 0, 0]), 2), [2, 0, 0, 2])
    np.testing.assert_allclose(window_averages(np.array([1.0, 3.0]), 50), [2, 2])


@pytest.mark.parametrize("budget", [20.0, 30.0, 50.0, 80.0, 200.0])
def test_choice_respects_the_budget_on_the_table(budget):
    rows = table(SCALES)
    choice = choose_quality(rows, budget)
    assert choice.fits and choice.expected_kbps <= budget * (1 + 1e-9)
    below = [r for r in rows if r.quality <= choice.quality]
    above = [r for r in rows if r.quality > choice.quality]
    assert below[-1].required_kbps <= budget
    if above:  # the next grid point would not fit, and the choice is within 0.1 of the boundary
        assert above[0].required_kbps > budget
        assert expected_kbps(rows, choice.quality + 0.1) > budget * 0.999
    else:
        assert choice.quality == 100.0


def test_nothing_fits_takes_the_lowest_quality_and_says_so():
    rows = table(SCALES)
    choice = choose_quality(rows, 5.0)
    assert (choice.quality, choice.fits) == (0.0, False)
    assert choice.expected_kbps == pytest.approx(rows[0].required_kbps)
    assert max_fps(rows, 5.0, FPS) == pytest.approx(FPS * 5.0 / rows[0].required_kbps)


def test_a_wobbling_table_is_planned_on_its_monotone_envelope():
    rows = table({0.0: 1, 10.0: 3, 20.0: 2, 30.0: 4})
    budget = (rows[2].required_kbps + rows[1].required_kbps) / 2  # quality 20 alone would fit
    choice = choose_quality(rows, budget)
    assert choice.fits and choice.quality < 10.0


def test_bad_budget_and_fps():
    with pytest.raises(ValueError, match="budget"):
        choose_quality(table(SCALES), 0.0)
    with pytest.raises(ValueError, match="fps"):
        stream_row(0, *clip(3000, 100), fps=0, key_interval=600)
