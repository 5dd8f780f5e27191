"""Loading and saving models: checkpoints carry their configuration.

A model is named by a checkpoint path, by a registered configuration name
(untrained, deterministic initial weights: for development and tests), or by
nothing, which means the trained starter model shipped inside the package.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .codec.models.config import REGISTRY, CodecConfig, get_config
from .codec.models.conditional import ConditionalEntropy
from .codec.models.dkic import DKIC
from .codec.models.int8_plan import without_int8
from .common.durable import make_dirs, write_durable_with
from .errors import message_line
from .imageio import refuse_overwriting

CHECKPOINT_FORMAT = "edgecodec-checkpoint"
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "dkic-small.pt"
DEFAULT_CONFIG = "dkic-small"


class ModelLoadError(ValueError):
    """A model could not be found or read."""


def init_model(config: CodecConfig, seed: int = 0) -> DKIC:
    """Deterministic untrained model, calibrated and frozen so that it can code."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = DKIC(config)
    observe_ranges(model, torch.rand(2, 3, 128, 128).mul(0.5).add(0.25))
    torch.random.set_rng_state(gen_state)
    model.eval().update()
    return model


@torch.no_grad()
def observe_ranges(model: DKIC, images: torch.Tensor) -> None:
    """One training-mode pass over ``images`` at spread quality levels, so that the integer layers record
    their value ranges (for models that never trained; the weights do not change)."""
    was_training = model.training
    model.train()
    levels = torch.linspace(0, model.config.quality_levels - 1, images.shape[0])
    model(images, levels)
    model.train(was_training)


def save_checkpoint(path: str | Path, model: DKIC, extra: dict | None = None) -> None:
    """Atomically write {config, model state, extra} to ``path``."""
    payload = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(), "model": model.state_dict()}
    payload.update(extra or {})
    atomic_torch_save(payload, Path(path))


@dataclass(frozen=True)
class TrainingState:
    """Where a training run stands, saved with its model so that the run resumes exactly."""

    step: int
    optimizer: dict  # the optimizer's state_dict()
    rng: dict  # {"torch": ..., "python": ...} generator states
    sampler_rng: dict  # the crop sampler's NumPy bit generator state
    options: dict  # the run's options, for the record


def save_training_checkpoint(path: str | Path, model: DKIC, state: TrainingState) -> None:
    """Atomically write a resumable training checkpoint: the model and ``state``."""
    save_checkpoint(path, model, asdict(state))


def training_state(path: str | Path, payload: dict) -> TrainingState:
    """The :class:`TrainingState` of a training checkpoint read from ``path``."""
    try:
        return TrainingState(int(payload["step"]), payload["optimizer"], payload["rng"], payload["sampler_rng"],
                             payload.get("options", {}))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(f"{path} is not a resumable training checkpoint ({message_line(e, 200)})") from None


def atomic_torch_save(obj: dict, path: Path) -> None:
    """torch.save, written crash-safely (temporary file, fsync, rename, fsync the folder)."""
    make_dirs(path.parent)
    write_durable_with(path, lambda f: torch.save(obj, f), follow=True)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint dict (tensors only, no code execution)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelLoadError(f"model file {path} does not exist") from None
    except Exception as e:  # torch raises many types for foreign files
        raise ModelLoadError(f"{path} is not an edgecodec checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"{path} is not an edgecodec checkpoint")
    return payload


def build_model(path: str | Path, payload: dict, drop_int8: bool = False) -> DKIC:
    """The model of a checkpoint read from ``path``, weights loaded; ModelLoadError (one line naming
    the file) when its configuration is invalid or its weights do not fit it."""
    if "config" not in payload:
        raise ModelLoadError(f"{path}: checkpoint holds no model configuration")
    try:
        config = CodecConfig.from_dict(payload["config"])
    except ValueError as e:
        raise ModelLoadError(f"{path}: invalid model configuration ({message_line(e, 200)})") from None
    state = payload.get("model")
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: checkpoint holds no model weights")
    try:
        if drop_int8:
            config, state = without_int8(config, state)
        model = DKIC(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:  # AttributeError: a non-tensor
        raise ModelLoadError(f"{path}: checkpoint does not match its configuration ({message_line(e, 200)})") from None
    return model


def from_checkpoint(path: str | Path) -> DKIC:
    """Model ready to code, from a checkpoint file (its config travels inside)."""
    return _ready(build_model(path, read_checkpoint(path)))


def _ready(model: DKIC) -> DKIC:
    model.eval()
    if not model.frozen:
        model.update()
    return model


def package_checkpoint(src: str | Path, dst: str | Path, half: bool = True, drop_int8: bool = False) -> DKIC:
    """A training checkpoint -> a frozen model file for deployment (no optimizer state).

    With ``half`` the float weights are rounded to float16 *before* freezing, which halves
    the file; the integer networks are frozen from the rounded weights, so the shipped
    file is self-consistent. ``drop_int8`` writes the same weights without int8 fake
    quantisation (to measure what int8 costs).
    """
    refuse_overwriting(src, dst)
    payload = read_checkpoint(src)
    model = build_model(src, payload, drop_int8)
    if half:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    model.eval().update()
    state = {k: (v.half() if half and v.is_floating_point() and k in dict(model.named_parameters()) else v)
             for k, v in model.state_dict().items()}
    meta = {"source_step": int(payload.get("step", 0))}
    out = {"format": CHECKPOINT_FORMAT, "config": model.config.to_dict(), "model": state, "meta": meta}
    if "conditional" in payload:
        out["conditional"] = payload["conditional"]
    atomic_torch_save(out, Path(dst))
    return model


def attach_conditional(src: str | Path, dst: str | Path, conditional: ConditionalEntropy, meta: dict) -> None:
    """Write the model file ``src`` to ``dst`` with this conditional model for delta frames (the
    intra model, its id and key frames are unchanged)."""
    payload = read_checkpoint(src)
    payload["conditional"] = {"width": conditional.width, "state": conditional.state_dict(), "meta": meta}
    atomic_torch_save(payload, Path(dst))


def build_conditional(path: str | Path, payload: dict | None, model: DKIC) -> ConditionalEntropy | None:
    """The conditional network of a model file's ``conditional`` entry ({"width", "state"}); None when
    the file has none (delta frames then use the intra parameters)."""
    if payload is None:
        return None
    try:
        conditional = ConditionalEntropy(model.config, int(payload["width"]))
        conditional.load_state_dict(payload["state"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise ModelLoadError(f"{path}: its conditional model does not fit ({message_line(e, 200)})") from None
    return conditional.eval()


def load_models(spec: str | None = None) -> tuple[DKIC, ConditionalEntropy | None]:
    """:func:`load_model` and the conditional network that travels in the same file (read once)."""
    path = DEFAULT_WEIGHTS if spec is None else Path(spec)
    if not path.is_file():
        return load_model(spec), None
    payload = read_checkpoint(path)
    model = _ready(build_model(path, payload))
    return model, build_conditional(path, payload.get("conditional"), model)


def load_model(spec: str | None = None) -> DKIC:
    """Model from a path, a registered configuration name, or the embedded default (None)."""
    if spec is None:
        if DEFAULT_WEIGHTS.exists():
            return from_checkpoint(DEFAULT_WEIGHTS)
        warnings.warn("no trained starter model is installed: using deterministic untrained weights")
        return init_model(get_config(DEFAULT_CONFIG))
    if Path(spec).exists():
        return from_checkpoint(spec)
    if spec in REGISTRY:
        return init_model(get_config(spec))
    raise ModelLoadError(f"no model {spec!r}: not a file and not one of {', '.join(sorted(REGISTRY))}")
