"""Changing a trained model's spatial-context plan keeps what it computes."""
from __future__ import annotations

import pytest
import torch

from edgecodec.checkpoint import observe_ranges, read_checkpoint
from edgecodec.codec.layers.quant import QTensor
from edgecodec.codec.models.config import get_config
from edgecodec.codec.models.context import latent_qtensor
from edgecodec.codec.models.dkic import DKIC
from edgecodec.train.loop import TrainOptions, train
from edgecodec.train.spatial_plan import parse_spatial, with_spatial_plan

pytestmark = pytest.mark.usefixtures("one_thread")


def observed_model(spatial: tuple[bool, ...]) -> DKIC:
    torch.manual_seed(0)
    config = get_config("dkic-tiny")
    model = DKIC(type(config).from_dict(dict(config.to_dict(), spatial=spatial)))
    for net in model.context.nets:  # spread the outputs; give the zero-input spatial response weight
        torch.nn.init.normal_(net.aggregate[0].bias, std=0.5)
        torch.nn.init.normal_(net.index_head.weight, std=1.0)
        torch.nn.init.uniform_(net.index_head.bias, 5, 40)
        if net.space is not None:
            torch.nn.init.uniform_(net.space.bias, 2.0, 4.0)
    observe_ranges(model, torch.rand(2, 3, 64, 64))
    return model.eval()


def slice_inputs(model: DKIC, i: int) -> tuple[QTensor, QTensor | None, QTensor]:
    g = torch.Generator().manual_seed(i)
    hyper = QTensor(torch.randint(0, 200, (1, model.config.hyper_features, 6, 5), generator=g).float(),
                    torch.full((model.config.hyper_features,), 0.02))
    prev = sum(model.config.slices[:i])
    channel = None
    if prev:
        latent = torch.randint(-60, 60, (1, prev, 6, 5), generator=g).float()
        channel = model.context.nets[i].channel_context(latent_qtensor(latent))
    anchors = latent_qtensor(torch.randint(-60, 60, (1, model.config.slices[i], 6, 5), generator=g).float())
    return hyper, channel, anchors


def replanned(old: DKIC, spatial: tuple[bool, ...]) -> DKIC:
    state, config = with_spatial_plan(old.state_dict(), old.config, spatial)
    new = DKIC(config)
    new.load_state_dict(state)
    return new.eval()


def test_dropping_spatial_context_keeps_the_anchor_pass():
    old = observed_model((True, True, True, True))
    new = replanned(old, (True, True, False, False))
    assert new.context.nets[2].space is None and new.context.nets[0].space is not None
    for i in (2, 3):
        hyper, channel, _ = slice_inputs(old, i)
        index_old, mean_old = old.context.nets[i].params(hyper, channel, None)
        index_new, mean_new = new.context.nets[i].params(hyper, channel, None)
        assert index_old.unique().numel() > 3
        # the same function up to the re-rounded int8 weight grid of the first aggregation layer
        assert (index_new != index_old).float().mean() < 0.15
        assert (mean_new - mean_old).abs().float().mean() < 0.25
    for i in (0, 1):  # untouched slices: identical
        hyper, channel, anchors = slice_inputs(old, i)
        for a, b in zip(old.context.nets[i].params(hyper, channel, anchors),
                        new.context.nets[i].params(hyper, channel, anchors)):
            assert torch.equal(a, b)


def test_adding_spatial_context_starts_as_the_old_model():
    old = observed_model((True, True, True, False))
    new = replanned(old, (True, True, True, True))
    new.context.nets[3].space.requant.out_scale.fill_(0.05)  # as if its observer had seen data
    hyper, channel, anchors = slice_inputs(old, 3)
    index_old, mean_old = old.context.nets[3].params(hyper, channel, None)
    index_new, mean_new = new.context.nets[3].params(hyper, channel, anchors)
    assert torch.equal(index_old, index_new) and torch.equal(mean_old, mean_new)
    assert index_old.unique().numel() > 3  # a real function of the inputs, not a constant


def test_parse_spatial_rejects_bad_flags():
    assert parse_spatial("1100", 4) == (True, True, False, False)
    for bad in ("110", "11001", "11a0"):
        with pytest.raises(ValueError, match="one per slice"):
            parse_spatial(bad, 4)


def test_fine_tuning_into_another_plan(tmp_path):
    data = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "data")
    base = dict(data=data, config="dkic-tiny", steps=2, batch=2, crop=64, checkpoint_every=100, seed=1)
    first = train(TrainOptions(out=str(tmp_path / "a"), **base))
    second = train(TrainOptions(out=str(tmp_path / "b"), init=str(first), spatial="1100", **base))
    assert tuple(read_checkpoint(second)["config"]["spatial"]) == (True, True, False, False)
    with pytest.raises(ValueError, match="needs --init"):
        train(TrainOptions(out=str(tmp_path / "c"), spatial="1100", **base))
