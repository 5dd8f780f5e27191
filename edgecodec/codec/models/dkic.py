"""DKIC: the dynamic-kernel learned image codec.

    x ─► analysis ─► y ─×gain─► y_g ─► hyper-analysis ─► z ─round─► z^ ──(factorized prior)──► bits
                                 │                                  │
                                 │                        integer hyper-synthesis
                                 │                                  ▼
                                 └──────────► context model (channel, then spatial) ──► y^_g ──► bits
    x^ ◄─ synthesis ◄─ ×inverse gain ◄─ y^_g

``forward()`` is the differentiable training model (noise for the rate, straight-
through rounding for the reconstruction). ``compress()`` / ``decompress()``
turn a padded image tensor into symbol streams and back, calling the rANS
coder; they need ``update()`` first (frozen integer layers, CDF tables). Their
halves are public for delta frames and random access: ``analyse`` (float
encoder), ``code_latent`` / ``decode_latent`` (integer entropy path, the coded
:class:`Latent`) and ``reconstruct`` (float decoder).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..entropy import gaussian, rans
from ..entropy.factorized import FactorizedPrior
from ..layers.fake_quant import quantize_transforms
from ..layers.quant import IntConv2d, IntRequant, round_ste
from .config import CodecConfig
from .context import MEAN_UNIT, ContextModel, dequantize
from .gain import QualityGain
from .hyper_synthesis import HyperSynthesis
from .transforms import AnalysisTransform, HyperAnalysis, SynthesisTransform

PAD_MULTIPLE = 64
Transform = Callable[..., Any]


class Latent(NamedTuple):
    """A coded frame's latent, identical on every device: z^ (integers) and y^_g (multiples of
    1/MEAN_UNIT), both float64, (1, C, H/64, W/64) and (1, M, H/16, W/16)."""

    z_hat: Tensor
    y_hat: Tensor


class DKIC(nn.Module):
    """The codec model for one configuration."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.config = config
        self.analysis = AnalysisTransform(config)
        self.synthesis = SynthesisTransform(config)
        self.hyper_analysis = HyperAnalysis(config)
        self.hyper_synthesis = HyperSynthesis(config)
        self.context = ContextModel(config)
        self.z_prior = FactorizedPrior(config.hyper_latent)
        self.gain = QualityGain(config.quality_levels, config.latent, config.lambda_max / config.lambda_min)
        z_cdf, z_len, z_off = torch.zeros(1, 3, dtype=torch.int32), torch.zeros(1, dtype=torch.int32), torch.zeros(1, dtype=torch.int32)
        self.register_buffer("z_cdfs", z_cdf)
        self.register_buffer("z_cdf_lengths", z_len)
        self.register_buffer("z_offsets", z_off)
        for part in config.int8:
            quantize_transforms(getattr(self, part), set(config.int8_keep_float), part + ".")
        y_cdf, y_len, y_off = gaussian.scale_tables()
        self.register_buffer("y_cdfs", y_cdf)
        self.register_buffer("y_cdf_lengths", y_len)
        self.register_buffer("y_offsets", y_off)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load weights; the z tables take the checkpoint's shape (they depend on the learned prior)."""
        for key in ("z_cdfs", "z_cdf_lengths", "z_offsets"):
            if key in state_dict:
                setattr(self, key, torch.empty_like(state_dict[key]))
        own = self.state_dict()
        state_dict = {k: (v.to(own[k].dtype) if k in own and v.is_floating_point() else v)
                      for k, v in state_dict.items()}  # float16-packaged weights load as float32
        return super().load_state_dict(state_dict, strict, assign)

    @property
    def frozen(self) -> bool:
        """Whether :meth:`update` has frozen the integer networks (a model loaded from a file that was
        frozen when saved needs no update)."""
        return bool(self.hyper_synthesis.out.requant.frozen)

    def lmbda(self, level: Tensor) -> Tensor:
        """Rate-distortion trade-off for each level of the batch."""
        lo, hi = self.config.lambda_min, self.config.lambda_max
        return lo * (hi / lo) ** (level / (self.config.quality_levels - 1))

    # ------------------------------------------------------------------ training
    def forward(self, x: Tensor, level: Tensor) -> dict[str, Tensor]:
        """Training/validation pass: reconstruction and likelihoods of y and z."""
        gain, inverse = self.gain(level)
        y, z = self.encoder_transform(x, gain)
        z_noisy = z + gaussian.uniform_noise_like(z) if self.training else torch.round(z)
        z_likelihood = self.z_prior.likelihood(z_noisy)
        hyper = self.hyper_synthesis(round_ste(z))
        y_likelihood = torch.ones_like(y)

        def resolve(i, mask, index, mean):
            lo = sum(self.context.slices[:i])
            y_i = y[:, lo:lo + self.context.slices[i]]
            residual = y_i - (mean / MEAN_UNIT).to(y_i.dtype)
            noisy = residual + gaussian.uniform_noise_like(residual) if self.training else torch.round(residual)
            lik = gaussian.likelihood(noisy, gaussian.scale_from_index(index.to(y_i.dtype)))
            where = torch.ones_like(lik, dtype=torch.bool) if mask is None else mask.expand_as(lik)
            y_likelihood[:, lo:lo + y_i.shape[1]] = torch.where(where, lik, y_likelihood[:, lo:lo + y_i.shape[1]])
            return dequantize(round_ste(residual), mean)

        y_hat = self.context.code(hyper, resolve).to(y.dtype) / MEAN_UNIT
        x_hat = self.decoder_transform(y_hat, inverse)
        return {"x_hat": x_hat, "y_likelihood": y_likelihood, "z_likelihood": z_likelihood}

    # ------------------------------------------------------------------ coding
    @torch.no_grad()
    def update(self) -> None:
        """Freeze the integer networks and build the CDF tables (before coding or export)."""
        for module in self.modules():
            if isinstance(module, (IntConv2d, IntRequant)):
                module.freeze()
        self.z_cdfs, self.z_cdf_lengths, self.z_offsets = self.z_prior.tables()
        self.y_cdfs, self.y_cdf_lengths, self.y_offsets = gaussian.scale_tables()

    def z_tables(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.z_cdfs, self.z_cdf_lengths, self.z_offsets

    def y_tables(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.y_cdfs, self.y_cdf_lengths, self.y_offsets

    def encoder_transform(self, x: Tensor, gain: Tensor) -> tuple[Tensor, Tensor]:
        """The float part of the encoder: (image, gain) -> (gained latent y_g, hyper-latent z)."""
        y = self.analysis(x) * gain
        return y, self.hyper_analysis(y)

    def decoder_transform(self, y_hat: Tensor, inverse_gain: Tensor) -> Tensor:
        """The float part of the decoder: (decoded y_g, inverse gain) -> image."""
        return self.synthesis(y_hat * inverse_gain)

    @torch.no_grad()
    def analyse(self, x: Tensor, level: float, encoder: Transform | None = None) -> tuple[Tensor, Tensor]:
        """Padded image (1, 3, H, W) -> (gained latent y, float64; hyper-latent z), unquantised."""
        gain = self.gain(torch.tensor([level], device=x.device))[0]
        y, z = (encoder or self.encoder_transform)(x, gain.to(x.dtype))
        return y.double().to(self.z_cdfs.device), z.to(self.z_cdfs.device)

    @torch.no_grad()
    def compress(self, x: Tensor, level: float, encoder: Transform | None = None) -> tuple[bytes, bytes, Latent]:
        """Padded image (1, 3, H, W), H and W multiples of 64 -> (z bytes, y bytes, coded latent).

        ``encoder`` optionally replaces :meth:`encoder_transform` (exported backends).
        The coded latent equals what :meth:`decode_latent` returns on any device.
        """
        return self.code_latent(*self.analyse(x, level, encoder))

    @torch.no_grad()
    def code_latent(self, y: Tensor, z: Tensor) -> tuple[bytes, bytes, Latent]:
        """Entropy-code an analysed latent (y gained, z unrounded) -> (z bytes, y bytes, coded latent)."""
        z_hat = torch.round(z).double()
        z_bytes = rans.encode(int32_array(z_hat), int32_array(self.z_indexes(z_hat.shape)), *numpy_tables(self.z_tables()))
        symbols, indexes = [], []

        def resolve(i, mask, index, mean):
            lo = sum(self.context.slices[:i])
            s = torch.round(y[:, lo:lo + self.context.slices[i]] - mean / MEAN_UNIT)
            sel = torch.ones_like(s, dtype=torch.bool) if mask is None else mask.expand_as(s)
            symbols.append(s[sel])
            indexes.append(index[sel])
            return dequantize(s, mean)

        y_hat = self.context.code(self.hyper_synthesis(z_hat), resolve)
        y_bytes = rans.encode(int32_array(torch.cat(symbols)), int32_array(torch.cat(indexes)), *numpy_tables(self.y_tables()))
        return z_bytes, y_bytes, Latent(z_hat, y_hat / MEAN_UNIT)

    def z_indexes(self, shape: tuple[int, ...]) -> Tensor:
        """Table index of every z symbol (its channel)."""
        n, c, h, w = shape
        return torch.arange(c, dtype=torch.int32, device=self.z_cdfs.device).view(1, -1, 1, 1).expand(n, c, h, w)

    @torch.no_grad()
    def decode_latent(self, z_bytes: bytes, y_bytes: bytes, z_shape: tuple[int, int]) -> Latent:
        """Entropy-decode the latent (z^, y^_g in float64); raises ValueError if corrupt."""
        zh, zw = z_shape
        device = self.z_cdfs.device
        zdec = rans.Decoder(z_bytes)
        z_idx = self.z_indexes((1, self.config.hyper_latent, zh, zw))
        z_hat = torch.from_numpy(zdec.decode(int32_array(z_idx), *numpy_tables(self.z_tables()))).double().view(z_idx.shape)
        z_hat = z_hat.to(device)
        zdec.finish()
        ydec = rans.Decoder(y_bytes)
        tables = numpy_tables(self.y_tables())

        def resolve(i, mask, index, mean):
            sel = torch.ones_like(index, dtype=torch.bool) if mask is None else mask.expand_as(index)
            s = torch.zeros_like(index)
            s[sel] = torch.from_numpy(ydec.decode(int32_array(index[sel]), *tables)).double().to(device)
            return dequantize(s, mean)

        y_hat = self.context.code(self.hyper_synthesis(z_hat), resolve)
        ydec.finish()
        return Latent(z_hat, y_hat / MEAN_UNIT)

    @torch.no_grad()
    def reconstruct(self, y_hat: Tensor, level: float, decoder: Transform | None = None) -> Tensor:
        """Float synthesis of a decoded latent at a quality level -> image in [0, 1].

        ``decoder`` optionally replaces :meth:`decoder_transform` (exported backends).
        """
        inverse = self.gain(torch.tensor([level], device=y_hat.device))[1]
        return (decoder or self.decoder_transform)(y_hat.float(), inverse).clamp(0, 1)

    @torch.no_grad()
    def decompress(self, z_bytes: bytes, y_bytes: bytes, z_shape: tuple[int, int], level: float,
                   decoder: Transform | None = None) -> Tensor:
        """The inverse of :meth:`compress`: streams -> image in [0, 1] (padded size)."""
        return self.reconstruct(self.decode_latent(z_bytes, y_bytes, z_shape).y_hat, level, decoder)


def int32_array(t: Tensor) -> np.ndarray:
    """A tensor of integer values as a flat, contiguous int32 array (for the rANS coder)."""
    return t.reshape(-1).to(torch.int32).contiguous().cpu().numpy()


def numpy_tables(tables: tuple[Tensor, ...]) -> tuple[np.ndarray, ...]:
    """CDF tables as contiguous numpy arrays (for the rANS coder)."""
    return tuple(t.contiguous().cpu().numpy() for t in tables)

