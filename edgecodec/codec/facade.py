"""Codec: one loaded model's images and frames <-> .ecb bytes (pure: no file, network or camera I/O).

    Codec(model, encoder, decoder, conditional)
      .encode(image, quality)            -> a key frame (a still image)
      .decode(data, reference=None)      -> image (a delta frame needs its reference)
      .reference(data, reference=None)   -> Reference: a frame's latent (entropy decode only); a delta
                                            frame needs its own reference (chains: stream.py)
      .encode_key / .encode_delta        -> the stream encoder's steps (codec/stream.py)

An image of any size is padded (edge replication) to a multiple of 64, coded, and
cropped back on decode. Encoder and decoder may use different float transforms
(``encoder`` / ``decoder``: ONNX Runtime, TensorRT); the entropy-parameter path, delta
frames included, is always the model's integer networks, so any backend decodes any
other backend's frames bit-exactly.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import bitstream
from .bitstream import MAX_REFERENCE_DEPTH
from .models.conditional import ConditionalEntropy
from .models.config import quality_to_level
from .models.context import MEAN_UNIT
from .models.dkic import DKIC, PAD_MULTIPLE, Latent, Transform
from .scene import delta, skip


class ModelMismatchError(ValueError):
    """The bitstream was produced by a different model than the one loaded."""


class ReferenceError(ValueError):
    """A delta frame decoded without its reference, or with the wrong one."""


ENCODER_ONLY = ("analysis.", "hyper_analysis.", "gain.log_gain")
INT8_PLAN = ("int8", "int8_keep_float")  # configuration fields that say how a model was trained, not what it decodes


def model_id(model: DKIC) -> bytes:
    """16-byte content hash of everything the decoder uses (config and decoder-side state).

    Encoder-only weights (analysis, hyper-analysis, forward gains) are left out: any
    encoder, e.g. one adapted on site or quantised for a Jetson, writes files that the
    server's model decodes, and they carry the same id.
    """
    config = {k: v for k, v in model.config.to_dict().items() if k not in INT8_PLAN}
    h = hashlib.sha256(repr(sorted(config.items())).encode())
    for name, t in sorted(model.state_dict().items()):
        if name.startswith(ENCODER_ONLY):
            continue
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.digest()[:16]


def latent_hash(latent: Latent) -> bytes:
    """8-byte hash of a coded latent (its exact integers): a delta frame's reference identity."""
    h = hashlib.sha256()
    for t in (latent.z_hat, latent.y_hat * MEAN_UNIT):
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.round().to(torch.int32).cpu().numpy().astype("<i4").tobytes())
    return h.digest()[:8]


def image_to_tensor(image: np.ndarray) -> Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H', W') in [0, 1], padded to a multiple of 64."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    ph, pw = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def tensor_to_image(x: Tensor, height: int, width: int) -> np.ndarray:
    """float (1, 3, H', W') in [0, 1] -> cropped uint8 (height, width, 3)."""
    x = x[0, :, :height, :width].clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(1, 2, 0).contiguous().cpu().numpy()


def latent_shape(height: int, width: int) -> tuple[int, int]:
    """Spatial shape of z for an image of this size."""
    return -(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE)


@dataclass(frozen=True)
class Reference:
    """A decoded frame as the delta frames that reference it use it. ``image``: its reconstruction
    (encoder side); ``depth``: 0 for a key frame, else one more than its own reference's."""

    seq: int
    quality: float
    width: int
    height: int
    latent: Latent
    hash: bytes
    image: Tensor | None = None
    depth: int = 0


@dataclass(frozen=True)
class Analysed:
    """A frame through the float encoder: padded input, gained latent y, hyper-latent z."""

    x: Tensor
    y: Tensor
    z: Tensor
    quality: float
    height: int
    width: int


@dataclass(frozen=True)
class DeltaResult:
    """An encoded delta frame and what the stream encoder decides with."""

    data: bytes
    reference: Reference  # the frame as every decoder decodes its latent (its image: the encoder's estimate)
    skipped: float  # share of positions taken from the reference
    key_bytes: int  # what the frame would cost as a key frame (estimated from the intra parameters)


class Codec:
    """A loaded model, the float transforms of one runtime and the conditional model."""

    def __init__(self, model: DKIC, encoder: Transform | None = None, decoder: Transform | None = None,
                 conditional: ConditionalEntropy | None = None):
        self.model, self.encoder, self.decoder, self.conditional = model, encoder, decoder, conditional
        self.model_id = model_id(model)
        cond_id = conditional.identity() if conditional is not None else b"intra-only"
        self.delta_model_id = hashlib.sha256(self.model_id + cond_id).digest()[:16]

    # ---------------------------------------------------------------- still images
    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """Encode an RGB uint8 image as a key frame (sequence number 0)."""
        return self.encode_key(self.analyse(image, quality), 0)[0]

    def decode(self, data: bytes, reference: Reference | None = None,
               max_pixels: int = bitstream.DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Decode a frame to an RGB uint8 image; ValueError on any invalid input, ReferenceError
        when a delta frame comes without its reference or with the wrong one."""
        header, latent = self.decode_latent(data, reference, max_pixels)
        x = self.model.reconstruct(latent.y_hat, self._level(header.quality), self.decoder)
        return tensor_to_image(x, header.height, header.width)

    def decode_reference(self, ref: Reference) -> np.ndarray:
        """The image of a key frame already decoded by :meth:`reference` (synthesis only)."""
        x = self.model.reconstruct(ref.latent.y_hat, self._level(ref.quality), self.decoder)
        return tensor_to_image(x, ref.height, ref.width)

    def reference(self, data: bytes, reference: Reference | None = None,
                  max_pixels: int = bitstream.DEFAULT_MAX_PIXELS) -> Reference:
        """A frame's latent for decoding the delta frames that reference it (no synthesis); a delta
        frame needs its own reference."""
        header, latent = self.decode_latent(data, reference, max_pixels)
        depth = reference.depth + 1 if header.is_delta else 0
        return Reference(header.seq, header.quality, header.width, header.height, latent, latent_hash(latent),
                         depth=depth)

    def decode_latent(self, data: bytes, reference: Reference | None = None,
                      max_pixels: int = bitstream.DEFAULT_MAX_PIXELS) -> tuple[bitstream.Header, Latent]:
        """Parse and entropy-decode a frame: (header, latent)."""
        header, streams = bitstream.unpack(data, max_pixels)
        expected = self.delta_model_id if header.is_delta else self.model_id
        if header.model_id != expected:
            what = "delta frame" if header.is_delta else "file"
            raise ModelMismatchError(f"the {what} was encoded with model {header.model_id.hex()}, "
                                     f"but model {expected.hex()} is loaded")
        if not header.is_delta:
            return header, self.model.decode_latent(*streams, latent_shape(header.height, header.width))
        _check_reference(header, reference)
        return header, delta.decode(self.model, self.conditional, streams, reference.latent)

    # ---------------------------------------------------------------- stream steps
    def analyse(self, image: np.ndarray, quality: float) -> Analysed:
        """Run the float encoder on a frame (quality 0..100, validated)."""
        level = quality_to_level(quality, self.model.config.quality_levels)
        x = image_to_tensor(image)
        y, z = self.model.analyse(x, level, self.encoder)
        return Analysed(x, y, z, round(float(quality), 2), image.shape[0], image.shape[1])

    def encode_key(self, a: Analysed, seq: int, keep_image: bool = False) -> tuple[bytes, Reference]:
        """A key frame and the reference it makes (with its reconstruction if ``keep_image``)."""
        z_bytes, y_bytes, latent = self.model.code_latent(a.y, a.z)
        header = bitstream.Header(a.width, a.height, a.quality, self.model_id, bitstream.KEY, seq)
        data = bitstream.pack(header, (z_bytes, y_bytes))
        image = self.model.reconstruct(latent.y_hat, self._level(a.quality), self.decoder) if keep_image else None
        return data, Reference(seq, a.quality, a.width, a.height, latent, latent_hash(latent), image)

    def encode_delta(self, a: Analysed, seq: int, ref: Reference, bias: float = 1.0) -> DeltaResult:
        """A delta frame against ``ref`` (which must hold its image): skip where the rate-distortion
        cost says so, conditional coding elsewhere. The result's ``reference`` lets later delta frames
        reference this one (its image composed from the trial pass, for the encoder's decisions only)."""
        if (ref.width, ref.height, ref.quality) != (a.width, a.height, a.quality) or ref.image is None:
            raise ValueError("a delta frame needs a reference of its size and quality, with its image")
        if ref.depth >= MAX_REFERENCE_DEPTH:
            raise ValueError(f"a reference {ref.depth} delta frames from its key frame is too deep "
                             f"(at most {MAX_REFERENCE_DEPTH})")
        none = torch.zeros(a.y.shape[2:], dtype=torch.bool, device=a.y.device)
        full = delta.encode(self.model, self.conditional, a.y, a.z, ref.latent, none)
        x_coded = self.model.reconstruct(full.latent.y_hat, self._level(a.quality), self.decoder)
        sse_code = skip.block_sse(a.x, x_coded, a.height, a.width)
        sse_skip = skip.block_sse(a.x, ref.image, a.height, a.width)
        lmbda = float(self.model.lmbda(torch.tensor(self._level(a.quality))))
        chosen = skip.decide(lmbda, sse_skip, sse_code, full.y_bits, full.z_bits, bias).to(none.device)
        coded = delta.encode(self.model, self.conditional, a.y, a.z, ref.latent, chosen)
        header = bitstream.Header(a.width, a.height, a.quality, self.delta_model_id, bitstream.DELTA, seq,
                                  ref.seq, ref.hash)
        key_bytes = bitstream.HEADER_SIZE + int((full.intra_y_bits + float(full.z_bits.sum())) / 8)
        image = torch.where(skip.expand_pixels(chosen), ref.image, x_coded)
        made = Reference(seq, a.quality, a.width, a.height, coded.latent, latent_hash(coded.latent), image,
                         ref.depth + 1)
        return DeltaResult(bitstream.pack(header, coded.streams), made, float(chosen.double().mean()), key_bytes)

    def _level(self, quality: float) -> float:
        return quality_to_level(quality, self.model.config.quality_levels)


def _check_reference(header: bitstream.Header, ref: Reference | None) -> None:
    if ref is None:
        raise ReferenceError(f"frame {header.seq} is a delta frame: it needs its reference, frame "
                             f"{header.ref_seq}, which is missing")
    if ref.depth >= MAX_REFERENCE_DEPTH:
        raise ReferenceError(f"frame {header.seq} references frame {ref.seq}, which is {ref.depth} delta frames "
                             f"from its key frame: at most {MAX_REFERENCE_DEPTH} are decoded")
    if ref.seq != header.ref_seq or ref.hash != header.ref_hash:
        raise ReferenceError(f"frame {header.seq} references frame {header.ref_seq} "
                             f"(latent {header.ref_hash.hex()}), not the given frame {ref.seq} ({ref.hash.hex()})")
    if (ref.width, ref.height, ref.quality) != (header.width, header.height, header.quality):
        raise bitstream.BitstreamError(f"corrupt delta frame {header.seq}: its size or quality differs from "
                                       f"its reference's")
