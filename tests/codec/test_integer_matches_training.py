"""The frozen integer networks compute what the fake-quantised training networks computed."""
from pathlib import Path

import torch

from edgecodec.checkpoint import from_checkpoint, read_checkpoint
from edgecodec import codec
from edgecodec.codec.models.config import CodecConfig
from edgecodec.codec.models.dkic import DKIC
from edgecodec.imageio import read_image

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def entropy_params(model, x, level, dtype):
    """Scale indexes and means of every slice's passes (the decoder's view), for one image."""
    gain = model.gain(torch.tensor([level]))[0]
    with torch.no_grad():
        y, z = model.encoder_transform(x, gain)
        hyper = model.hyper_synthesis(torch.round(z).to(dtype))
        out = []

        def resolve(i, mask, index, mean):
            out.append((index.double(), mean.double()))
            lo = sum(model.context.slices[:i])
            return torch.round(y[:, lo:lo + model.context.slices[i]] - mean.to(y.dtype) / 16).to(dtype)

        model.context.code(hyper, resolve)
    return out


def test_frozen_integer_path_equals_fake_quantised_path():
    frozen = from_checkpoint(GOLDEN / "dkic-tiny.pt")
    frozen.update()  # freeze again with the current code
    state = read_checkpoint(GOLDEN / "dkic-tiny.pt")
    fake = DKIC(CodecConfig.from_dict(state["config"]))
    fake.load_state_dict(state["model"])
    fake.eval()
    fake.hyper_synthesis.apply(lambda m: m.requant.frozen.fill_(False) if hasattr(m, "requant") else None)
    fake.context.apply(lambda m: m.requant.frozen.fill_(False) if hasattr(m, "requant") else None)
    x = codec.image_to_tensor(read_image(GOLDEN / "image.png"))
    for level in (0.0, 2.5, 5.0):
        pairs = zip(entropy_params(frozen, x, level, torch.float64), entropy_params(fake, x, level, torch.float32))
        for (i_int, m_int), (i_fake, m_fake) in pairs:
            assert (i_int - i_fake).abs().max() <= 1 and (i_int == i_fake).double().mean() > 0.97
            assert (m_int - m_fake).abs().max() <= 2 and (m_int == m_fake).double().mean() > 0.9
