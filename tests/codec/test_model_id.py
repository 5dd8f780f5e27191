"""The model id names exactly what the decoder needs."""
import copy

import torch

from edgecodec.checkpoint import init_model
from edgecodec.codec.facade import model_id
from edgecodec.codec.models.config import get_config


def test_encoder_only_weights_do_not_change_the_id():
    model = init_model(get_config("dkic-tiny"))
    adapted = copy.deepcopy(model)
    with torch.no_grad():
        for p in list(adapted.analysis.parameters()) + list(adapted.hyper_analysis.parameters()):
            p.add_(0.01)
        adapted.gain.log_gain.add_(0.01)
    assert model_id(adapted) == model_id(model)


def test_decoder_side_changes_change_the_id():
    model = init_model(get_config("dkic-tiny"))
    for name in ("synthesis", "context", "hyper_synthesis"):
        other = copy.deepcopy(model)
        with torch.no_grad():
            next(getattr(other, name).parameters()).add_(0.01)
        if name != "synthesis":  # integer networks: the frozen integers are what decodes
            other.update()
        assert model_id(other) != model_id(model), name
    other = copy.deepcopy(model)
    other.z_cdfs[0, 1] += 1
    assert model_id(other) != model_id(model)
