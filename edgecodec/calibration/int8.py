"""The calibrated int8 encoder: activation histograms of the float encoder -> int8 scales -> model, ONNX.

The observed points are exactly those ``quantize_transforms`` fake-quantises in the int8 part of
the encoder (the analysis; the hyper-analysis stays float, see ``codec/models/int8_plan.py``): the
input of every convolution (``<conv>.act`` in the int8 model) and the three sampling inputs of
every dynamic kernel (value, offsets, mask: ``<kernel>.sampling_quant.<i>``). The float model is
observed (TensorRT's convention: calibrate the network being quantised, not a partly quantised
one); the analysis does not depend on the quality, so it runs once per frame. Two passes: the first finds each tensor's |x| maximum, the second fills histograms over it.
The image input is not calibrated: its range, [0, 1], is known.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from ..codec.facade import image_to_tensor
from ..codec.layers.fake_quant import FakeQuantAct, QConv2d
from ..codec.models.dkic import DKIC
from ..codec.models.int8_plan import int8_config
from ..export.onnx_export import export_graphs
from .ranges import BINS, MIN_AMAX, AbsHistogram, choose_threshold, scale_for

# The image is in [0, 1] by definition: calibrating it would clip a brighter frame than the
# calibration frames, and its histogram (multiples of 1/255) is a comb that misleads the KL search.
KNOWN_RANGES = {"analysis.0.act": 1.0}
Tick = Callable[[], None]


def observation_points(model: DKIC) -> dict[str, nn.Module]:
    """{int8 model's FakeQuantAct name: float module whose input it quantises}."""
    points: dict[str, nn.Module] = {}
    config = int8_config(model.config, "encoder")  # what `edgecodec qat --parts encoder` quantises
    keep_float = set(config.int8_keep_float)
    for part in config.int8:
        for name, module in getattr(model, part).named_modules():
            full = f"{part}.{name}"
            if isinstance(module, nn.Conv2d) and full not in keep_float:
                points[f"{full}.act"] = module
            if isinstance(module, nn.ModuleList) and name.endswith("sampling_quant"):
                points.update({f"{full}.{i}": m for i, m in enumerate(module)})
    return points


class _Observer:
    """Forward pre-hooks that record each point's |x| maximum (pass 1) or histogram (pass 2)."""

    def __init__(self, points: dict[str, nn.Module]):
        self.amax = {name: 0.0 for name in points}
        self.counts: dict[str, torch.Tensor] | None = None
        self.handles = [m.register_forward_pre_hook(self._hook(name)) for name, m in points.items()]

    def _hook(self, name: str):
        def record(_module: nn.Module, args: tuple) -> None:
            a = args[0].detach().abs().float()
            if self.counts is None:
                self.amax[name] = max(self.amax[name], float(a.max()))
            else:
                top = max(self.amax[name], MIN_AMAX)
                self.counts[name] += torch.histc(a.clamp(max=top), bins=BINS, min=0.0, max=top).double()
        return record

    def start_histograms(self) -> None:
        self.counts = {name: torch.zeros(BINS, dtype=torch.float64) for name in self.amax}

    def histograms(self) -> dict[str, AbsHistogram]:
        assert self.counts is not None
        return {n: AbsHistogram(max(self.amax[n], MIN_AMAX), c.numpy()) for n, c in self.counts.items()}

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def _run_encoder(model: DKIC, images: Iterable[np.ndarray], tick: Tick) -> None:
    """The analysis once per image (it does not depend on the quality)."""
    for image in images:
        model.analysis(image_to_tensor(image))
        tick()


def collect_histograms(model: DKIC, images: list[np.ndarray], tick: Tick = lambda: None) -> dict[str, AbsHistogram]:
    """|x| histograms at every int8 point of the float encoder over ``images`` (two passes)."""
    model = model.eval()
    observer = _Observer(observation_points(model))
    try:
        _run_encoder(model, images, tick)
        observer.start_histograms()
        _run_encoder(model, images, tick)
        return observer.histograms()
    finally:
        observer.close()


def choose_scales(histograms: dict[str, AbsHistogram], method: str, percentile: float = 99.99) -> dict[str, float]:
    """{point: int8 scale} by ``method`` ('percentile' or 'entropy'); the image input keeps its known range."""
    scales = {name: scale_for(choose_threshold(h, method, percentile)) for name, h in histograms.items()}
    return scales | {name: scale_for(bound) for name, bound in KNOWN_RANGES.items() if name in scales}


def build_int8(model: DKIC, scales: dict[str, float]) -> DKIC:
    """A copy of ``model`` with int8 fake-quantised encoder transforms and the given activation scales."""
    if model.config.int8:
        raise ValueError("the model is already quantised; calibrate its float checkpoint")
    q = DKIC(int8_config(model.config, "encoder"))
    result = q.load_state_dict(copy.deepcopy(model.state_dict()), strict=False)
    acts = {name: m for name, m in q.named_modules() if isinstance(m, FakeQuantAct)}
    weight_scales = {f"{name}.w_scale" for name, m in q.named_modules() if isinstance(m, QConv2d)}
    if result.unexpected_keys or set(result.missing_keys) != {f"{n}.scale" for n in acts} | weight_scales:
        raise RuntimeError(f"int8 model does not match the float one: {result}")
    if set(acts) != set(scales):
        raise RuntimeError(f"calibrated points {sorted(set(scales) ^ set(acts))[:3]} do not match the int8 model")
    with torch.no_grad():
        for name, act in acts.items():
            act.scale.fill_(scales[name])
    return q.eval()  # eval() also fixes the weight scales from the loaded weights


def encoder_onnx(model: DKIC) -> bytes:
    """The int8 encoder graph with explicit Q/DQ, GridSample sampling (plugin-free TensorRT)."""
    return export_graphs(model, "grid_sample")["encoder"]


@torch.no_grad()
def latent_snr(reference: DKIC, test: DKIC, images: list[np.ndarray]) -> float:
    """SNR (dB) of ``test``'s analysis latent against ``reference``'s over ``images``."""
    signal = noise = 0.0
    for image in images:
        x = image_to_tensor(image)
        y_ref, y = reference.analysis(x), test.analysis(x)
        signal += float(y_ref.double().pow(2).sum())
        noise += float((y - y_ref).double().pow(2).sum())
    return float("inf") if noise == 0 else 10 * float(np.log10(signal / noise))


def onnx_agreement(model: DKIC, onnx_bytes: bytes, image: np.ndarray, level: float) -> float:
    """Largest |latent difference| of ONNX Runtime against PyTorch, relative to the latent's range."""
    import onnxruntime as ort

    x = image_to_tensor(image)
    gain = model.gain(torch.tensor([level]))[0].detach()
    with torch.no_grad():
        y_ref, _ = model.encoder_transform(x, gain)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    y, _ = session.run(None, {"image": x.numpy(), "gain": gain.numpy()})
    return float(np.abs(y - y_ref.numpy()).max() / max(float(y_ref.abs().max()), 1e-12))
