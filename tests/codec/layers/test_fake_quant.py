"""Int8 fake quantisation: the learned activation step (LSQ)."""
from __future__ import annotations

import torch

from edgecodec.codec.layers.fake_quant import QMAX, FakeQuantAct


def test_first_batch_sets_an_unclipped_step_then_eval_is_a_fixed_grid():
    act = FakeQuantAct().train()
    x = torch.randn(4, 8, 5, 5) * 3
    y = act(x)
    assert torch.isclose(act.scale, x.abs().amax() / QMAX)
    assert (y - x).abs().max() <= act.scale / 2 + 1e-6  # nothing clipped, half a step at most
    act.eval()
    z = act(torch.tensor([0.3, -100.0]))
    assert torch.allclose(z / act.scale, torch.round(z / act.scale))  # on the int8 grid
    assert z[1] == -(QMAX + 1) * act.scale  # clipped at the int8 range


def test_step_learns_to_clip_an_outlier_the_loss_does_not_need():
    """One outlier sets the first (absmax) step and wastes resolution; when the loss only needs
    the bulk of the values, training the step clips the outlier and refines the bulk."""
    torch.manual_seed(0)
    act = FakeQuantAct().train()
    x = torch.randn(64, 256)
    x[0, 0] = 60.0
    bulk = torch.ones_like(x, dtype=torch.bool)
    bulk[0, 0] = False
    act(x)
    first = act.scale.item()
    error_before = (act(x) - x)[bulk].pow(2).mean().item()
    opt = torch.optim.Adam(act.parameters(), lr=first * 0.05)
    for _ in range(200):
        opt.zero_grad()
        (act(x) - x)[bulk].pow(2).mean().backward()
        opt.step()
    assert act.scale.item() < 0.2 * first
    assert (act(x) - x)[bulk].pow(2).mean().item() < 0.1 * error_before
