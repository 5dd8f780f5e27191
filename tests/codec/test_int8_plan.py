"""The int8 plan: which convolutions stay float, for every registered configuration; how configurations carry it."""
from __future__ import annotations

import pytest
from torch import nn

from edgecodec.codec.layers.fake_quant import QConv2d
from edgecodec.codec.models.config import REGISTRY, CodecConfig
from edgecodec.codec.models.dkic import DKIC
from edgecodec.codec.models.int8_plan import int8_config, without_int8


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_first_and_last_synthesis_upsampling_convs_stay_float(name):
    model = DKIC(int8_config(REGISTRY[name], "all"))
    convs = [(n, m) for n, m in model.synthesis.named_modules() if isinstance(m, nn.Conv2d)]
    upsampling = [(n, m) for n, m in convs if n.count(".") == 1]  # "i.0": conv + pixel shuffle; blocks nest deeper
    first, last = upsampling[0], upsampling[-1]
    assert last[1].out_channels == 12  # writes 3 pixels x 4 sub-pixel positions
    float_convs = {f"synthesis.{n}" for n, m in convs if not isinstance(m, QConv2d)}
    assert float_convs == {f"synthesis.{first[0]}", f"synthesis.{last[0]}"}
    assert not any(isinstance(m, QConv2d) for m in model.hyper_analysis.modules())
    assert all(isinstance(m, QConv2d) for m in model.analysis.modules() if isinstance(m, nn.Conv2d))


def test_the_encoder_plan_leaves_the_decoder_float():
    model = DKIC(int8_config(REGISTRY["dkic-tiny"], "encoder"))
    assert not any(isinstance(m, QConv2d) for m in model.synthesis.modules())
    with pytest.raises(ValueError, match="unknown int8 parts"):
        int8_config(REGISTRY["dkic-tiny"], "decoder")


def test_the_plan_is_typed_and_the_old_extra_form_still_loads():
    plan = int8_config(REGISTRY["dkic-tiny"], "all")
    assert plan.int8 == ("analysis", "synthesis") and len(plan.int8_keep_float) == 2
    assert CodecConfig.from_dict(plan.to_dict()) == plan
    old = {k: v for k, v in plan.to_dict().items() if k not in ("int8", "int8_keep_float")}
    old["extra"] = {"int8": list(plan.int8), "int8_keep_float": list(plan.int8_keep_float)}  # before the typed plan
    assert CodecConfig.from_dict(old) == plan
    assert CodecConfig.from_dict(dict(old, extra={})) == REGISTRY["dkic-tiny"]


def test_without_int8_is_the_float_model_with_the_same_weights():
    model = DKIC(int8_config(REGISTRY["dkic-tiny"], "all"))
    config, state = without_int8(model.config, model.state_dict())
    assert config == REGISTRY["dkic-tiny"]
    DKIC(config).load_state_dict(state)  # strict: nothing of the fake quantisation is left
