"""Gain units: the quality knob's interpolation and the move to another lambda range."""
import math

import torch

from edgecodec.codec.models.gain import QualityGain, remap_levels


def test_levels_interpolate_geometrically_between_neighbours():
    gain = QualityGain(levels=4, channels=3, lambda_ratio=100.0)
    with torch.no_grad():
        gain.log_gain.copy_(torch.tensor([[0.0], [1.0], [3.0], [4.0]]).expand(4, 3))
    g, _ = gain(torch.tensor([0.0, 1.5, 3.0, 7.0]))
    torch.testing.assert_close(g[:, 0, 0, 0], torch.exp(torch.tensor([0.0, 2.0, 4.0, 4.0])))


def test_remap_keeps_the_curve_and_extends_it_past_the_ends():
    old, levels = (0.001, 0.1), 5
    log_lambda = torch.linspace(math.log(old[0]), math.log(old[1]), levels, dtype=torch.float64)
    # a curve with a kink: slope 0.5 per log-lambda below the middle level, 0.3 above it, two channels
    curve = lambda t: torch.where(t < log_lambda[2], 0.5 * (t - log_lambda[2]), 0.3 * (t - log_lambda[2]))
    table = torch.stack([curve(log_lambda), 2 * curve(log_lambda)], 1)
    torch.testing.assert_close(remap_levels(table, old, old), table)

    new = (0.0001, 1.0)  # a decade beyond each end
    moved = remap_levels(table, old, new)
    new_log = torch.linspace(math.log(new[0]), math.log(new[1]), levels, dtype=torch.float64)
    torch.testing.assert_close(moved, torch.stack([curve(new_log), 2 * curve(new_log)], 1))
    assert moved.shape == table.shape and moved.dtype == table.dtype
