"""The rate table and the quality choice against a budget."""
from __future__ import annotations

import pytest

from edgecodec.calibration.rate import choose_quality, expected_kbps, kbps, max_fps, percentile_bits, rate_table

# bytes per frame of 10 frames at each grid quality: one busy frame (x3) per row
SIZES = {q: [1000 * 2 ** (q / 25)] * 9 + [3000 * 2 ** (q / 25)] for q in (0.0, 25.0, 50.0, 75.0, 100.0)}


def test_table_in_kbps_from_mean_and_percentile_bits():
    rows = rate_table(SIZES, fps=10)
    assert [r.quality for r in rows] == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert rows[0].mean_bits == pytest.approx(8 * 1200)
    assert rows[0].percentile_bits == pytest.approx(percentile_bits(SIZES[0.0], 90)) == pytest.approx(8 * 1200)
    assert rows[1].percentile_kbps == pytest.approx(kbps(8 * 2400, 10)) == pytest.approx(192.0)
    assert rows[0].percentile_bits > 8 * 1000  # the busy frame counts: the plan is not the typical frame


@pytest.mark.parametrize("budget", [100.0, 150.0, 192.0, 300.0, 500.0, 1000.0])
def test_choice_respects_the_budget_on_the_table(budget):
    table = rate_table(SIZES, fps=10)
    choice = choose_quality(table, budget)
    assert choice.fits and choice.expected_kbps <= budget * (1 + 1e-9)
    below = [r for r in table if r.quality <= choice.quality]
    above = [r for r in table if r.quality > choice.quality]
    assert below[-1].percentile_kbps <= budget
    if above:  # the next grid point would not fit, and the choice is within 0.1 of the boundary
        assert above[0].percentile_kbps > budget
        assert expected_kbps(table, choice.quality + 0.1) > budget * 0.999
    else:
        assert choice.quality == 100.0


def test_nothing_fits_takes_the_lowest_quality_and_says_so():
    table = rate_table(SIZES, fps=10)
    choice = choose_quality(table, 50.0)
    assert (choice.quality, choice.fits) == (0.0, False)
    assert choice.expected_kbps == pytest.approx(96.0)
    assert max_fps(table, 50.0) == pytest.approx(50.0 / 9.6)


def test_a_wobbling_table_is_planned_on_its_monotone_envelope():
    wobble = {0.0: [1000], 10.0: [3000], 20.0: [2000], 30.0: [4000]}
    table = rate_table(wobble, fps=1, percentile=90)
    # 2000 B at quality 20 would fit 20 kbit/s, but quality 10 already needs 24: stay below 10
    choice = choose_quality(table, 20.0)
    assert choice.fits and choice.quality < 10.0


def test_bad_budget_and_fps():
    with pytest.raises(ValueError, match="budget"):
        choose_quality(rate_table(SIZES, fps=10), 0.0)
    with pytest.raises(ValueError, match="fps"):
        rate_table(SIZES, fps=0)
