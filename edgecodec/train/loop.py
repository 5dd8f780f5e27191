"""The rate-distortion training loop: variable rate, resumable, single or multi GPU.

loss = lambda(level) * 255^2 * MSE + bpp   (or lambda * 255^2 * (1 - MS-SSIM) / 32-ish with --metric ms-ssim)

A gain level (hence a quality) is drawn per sample, so one checkpoint covers
the whole quality range. Checkpoints hold model, optimizer, step and RNG
states and are written atomically; ``train()`` resumes from ``last.pt``.
``stop_at`` (a step) and ``max_minutes`` (a wall-time budget) end a run early with a
checkpoint, keeping the learning-rate schedule of ``steps``, so a resumed run goes on as if
never stopped. Multi-GPU runs use torchrun (DistributedDataParallel).
"""
from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..checkpoint import (TrainingState, build_model, read_checkpoint, save_checkpoint, save_training_checkpoint,
                          training_state)
from ..codec.models.config import get_config
from ..codec.layers.fake_quant import FakeQuantAct
from ..codec.models.dkic import DKIC, PAD_MULTIPLE
from ..codec.models.gain import remap_levels
from ..codec.models.int8_plan import int8_config
from .data import CropSampler
from .progress import Progress
from .spatial_plan import parse_spatial, with_spatial_plan
from ..quality import ms_ssim

_logger = logging.getLogger("edgecodec.train")
_clock = time.monotonic  # the --max-minutes clock (tests replace it)


@dataclass
class TrainOptions:
    """Command-line options of ``edgecodec train``."""

    data: str
    out: str
    config: str = "dkic-small"
    steps: int = 100_000
    batch: int = 8
    crop: int = 128
    lr: float = 2e-4
    lr_final: float = 2e-5
    metric: str = "mse"
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 250
    threads: int = 0
    init: str | None = None
    stop_at: int | None = None
    qat: str | None = None  # "encoder" or "all": int8 quantisation-aware fine-tuning of --init
    keep_every: int = 0  # also keep step-numbered snapshots (model only) every N steps
    spatial: str | None = None  # with --init: another spatial-context plan, one 0/1 flag per slice
    lambda_range: tuple[float, float] | None = None  # with --init: another (lambda_min, lambda_max)
    max_minutes: float | None = None  # checkpoint and stop after this much wall time (schedule of steps kept)


def check_options(opts: TrainOptions) -> None:
    """Refuse options a run cannot use, with a one-line ValueError, before anything is created."""
    for name, value, minimum in (("--steps", opts.steps, 1), ("--batch", opts.batch, 1),
                                 ("--checkpoint-every", opts.checkpoint_every, 1), ("--keep-every", opts.keep_every, 0),
                                 ("--threads", opts.threads, 0), ("--seed", opts.seed, 0)):
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if opts.stop_at is not None and opts.stop_at < 1:
        raise ValueError(f"--stop-at must be >= 1, got {opts.stop_at}")
    if opts.max_minutes is not None and not (math.isfinite(opts.max_minutes) and opts.max_minutes > 0):
        raise ValueError(f"--max-minutes must be a positive number, got {opts.max_minutes:g}")
    if opts.crop < PAD_MULTIPLE or opts.crop % PAD_MULTIPLE:
        raise ValueError(f"--crop must be a positive multiple of {PAD_MULTIPLE} (the model's coding block), "
                         f"got {opts.crop}")
    if not (math.isfinite(opts.lr) and opts.lr > 0):
        raise ValueError(f"--lr must be a positive number, got {opts.lr:g}")
    if not (math.isfinite(opts.lr_final) and opts.lr_final >= 0):
        raise ValueError(f"--lr-final must be a number >= 0, got {opts.lr_final:g}")


def _build(opts: TrainOptions, resumed: dict | None) -> DKIC:
    """The model to train: resumed (from this checkpoint), fine-tuned from --init (optionally made int8), or
    fresh."""
    if resumed is not None:
        return build_model(Path(opts.out) / "last.pt", resumed)
    if not opts.init:
        if opts.spatial is not None:
            raise ValueError("--spatial changes a trained model's plan: it needs --init")
        if opts.lambda_range is not None:
            raise ValueError("--lambda-range changes a trained model's rate range: it needs --init")
        if opts.qat:
            raise ValueError("quantisation-aware training needs --init (the float model to quantise)")
        return DKIC(get_config(opts.config))
    base = build_model(opts.init, read_checkpoint(opts.init))
    config, weights = base.config, base.state_dict()
    if opts.spatial is not None:
        weights, config = with_spatial_plan(weights, config, parse_spatial(opts.spatial, len(config.slices)))
    if opts.lambda_range is not None:
        new_range = (float(opts.lambda_range[0]), float(opts.lambda_range[1]))
        config = replace(config, lambda_min=new_range[0], lambda_max=new_range[1])
        for key in ("gain.log_gain", "gain.log_inverse"):
            weights[key] = remap_levels(weights[key], (base.config.lambda_min, base.config.lambda_max), new_range)
    if opts.qat:
        config = int8_config(config, opts.qat)
    model = DKIC(config)
    model.load_state_dict(weights, strict=not opts.qat)
    return model


STEP_LR_MULT = 10.0  # int8 activation steps learn faster than the weights (a short QAT run)


def _param_groups(model: DKIC) -> list[dict]:
    """All parameters, or only the int8 parts' during quantisation-aware fine-tuning, whose
    learned activation steps get their own (faster) learning rate."""
    parts = model.config.int8
    if not parts:
        return [{"params": list(model.parameters()), "lr_mult": 1.0}]
    for p in model.parameters():
        p.requires_grad_(False)
    modules = [getattr(model, part) for part in parts]
    steps = [m.scale for module in modules for m in module.modules() if isinstance(m, FakeQuantAct)]
    step_ids = {id(p) for p in steps}
    weights = [p for module in modules for p in module.parameters() if id(p) not in step_ids]
    for p in steps + weights:
        p.requires_grad_(True)
    return [{"params": weights, "lr_mult": 1.0}, {"params": steps, "lr_mult": STEP_LR_MULT}]


def _set_train_mode(model: DKIC) -> None:
    """Train mode; during quantisation-aware fine-tuning everything else stays frozen in eval mode
    (the integer networks keep their frozen integers, observers included)."""
    parts = model.config.int8
    model.train()
    if parts:
        for name, child in model.named_children():
            if name not in parts:
                child.eval()


def rd_loss(model: DKIC, x: torch.Tensor, level: torch.Tensor, metric: str) -> dict[str, torch.Tensor]:
    """Per-batch loss and its parts (bpp from likelihoods, distortion)."""
    out = model(x, level)
    pixels = x.shape[2] * x.shape[3]
    bits = -(out["y_likelihood"].log2().sum((1, 2, 3)) + out["z_likelihood"].log2().sum((1, 2, 3)))
    bpp = bits / pixels
    mse = (out["x_hat"] - x).pow(2).mean((1, 2, 3))
    lam = model.lmbda(level) if not hasattr(model, "module") else model.module.lmbda(level)
    if metric == "ms-ssim":
        dist_term = lam * 255 ** 2 / 32 * (1 - ms_ssim(out["x_hat"].clamp(0, 1), x))
    else:
        dist_term = lam * 255 ** 2 * mse
    loss = (dist_term + bpp).mean()
    psnr = (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "psnr": psnr}


def learning_rate(step: int, opts: TrainOptions) -> float:
    """Cosine decay from lr to lr_final over the run, after a short warm-up."""
    warm = min(1.0, (step + 1) / 500)
    t = min(step / max(opts.steps, 1), 1.0)
    return warm * (opts.lr_final + 0.5 * (opts.lr - opts.lr_final) * (1 + math.cos(math.pi * t)))


def _rng_state() -> dict:
    return {"torch": torch.random.get_rng_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["torch"])
    random.setstate(state["python"])


class _RunLog:
    """CSV log of a run; on resume, rows after the resumed step (never checkpointed) are dropped."""

    HEADER = ["step", "time", "lr", "loss", "bpp", "mse", "psnr"]

    def __init__(self, path: Path, step: int):
        rows = []
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f) if r and r[0].isdigit() and int(r[0]) <= step]
        self.offset = float(rows[-1][1]) if rows else 0.0  # wall time accumulates across resumes
        self.file = open(path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerows([self.HEADER] + rows)
        self.start = time.time()

    def row(self, step: int, lr: float, vals: dict[str, float]) -> None:
        self.writer.writerow([step, f"{self.offset + time.time() - self.start:.1f}", f"{lr:.3g}"] +
                             [f"{vals[k]:.5g}" for k in self.HEADER[3:]])

    def close(self) -> None:
        self.file.close()


def _save(out: Path, opts: TrainOptions, model: DKIC, optimizer, step: int, rng: np.random.Generator,
          log: _RunLog, last: bool = False) -> None:
    log.file.flush()
    if last or step % opts.checkpoint_every == 0 or step == min(opts.steps, opts.stop_at or opts.steps):
        state = TrainingState(step, optimizer.state_dict(), _rng_state(), rng.bit_generator.state, asdict(opts))
        save_training_checkpoint(out / "last.pt", model, state)
    if opts.keep_every and step % opts.keep_every == 0:
        save_checkpoint(out / f"step{step:07d}.pt", model, {"step": step})


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give resumed optimizer moments their parameter's memory layout: moments saved in another
    layout (channels-last, say) send Adam's fused CPU kernel down a path about 8x slower
    (3 s instead of 0.4 s per dkic-small step, measured here)."""
    for p, moments in optimizer.state.items():
        for key, value in moments.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                moments[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _setup_process(opts: TrainOptions) -> tuple[int, bool, torch.device]:
    """(rank, distributed, device); torchrun sets WORLD_SIZE, RANK and LOCAL_RANK."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if opts.device == "cuda" else "gloo")
        rank = dist.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if opts.device == "cuda" else "cpu")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed + rank)
    random.seed(opts.seed + rank)
    return rank, distributed, device


def _out_of_time(deadline: float | None, distributed: bool, device: torch.device) -> bool:
    """Whether the --max-minutes budget is spent; under torchrun rank 0's clock decides for every
    rank, so all of them stop after the same step."""
    if deadline is None:
        return False
    late = _clock() >= deadline
    if distributed:
        flag = torch.tensor([float(late)], device=device)
        dist.broadcast(flag, 0)
        late = bool(flag.item())
    return late


def train(opts: TrainOptions) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint."""
    check_options(opts)
    deadline = _clock() + 60 * opts.max_minutes if opts.max_minutes is not None else None
    rank, distributed, device = _setup_process(opts)
    out = Path(opts.out)
    payload = read_checkpoint(out / "last.pt") if (out / "last.pt").exists() else None
    model = _build(opts, payload).to(device)
    optimizer = torch.optim.Adam(_param_groups(model), lr=opts.lr, fused=device.type == "cpu" or None)
    step, rng = 0, np.random.default_rng(opts.seed + rank)
    if payload is not None:
        resumed = training_state(out / "last.pt", payload)
        optimizer.load_state_dict(resumed.optimizer)
        _match_param_layout(optimizer)
        step = resumed.step
        _set_rng_state(resumed.rng)
        rng.bit_generator.state = resumed.sampler_rng
    _set_train_mode(model)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    sampler = CropSampler(opts.data, opts.crop)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log = _RunLog(out / "log.csv", step)
    progress = Progress(opts.steps, initial=step, enabled=rank == 0)
    end = min(opts.steps, opts.stop_at or opts.steps)
    while step < end:
        lr = learning_rate(step, opts)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        x = sampler.batch(opts.batch, rng).to(device)
        level = torch.from_numpy(rng.uniform(0, model.config.quality_levels - 1, opts.batch)).float().to(device)
        parts = rd_loss(net, x, level, opts.metric)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        step += 1
        late = step < end and _out_of_time(deadline, distributed, device)
        if rank == 0:
            vals = {k: float(v.detach()) for k, v in parts.items()}
            progress.update(loss=vals["loss"], bpp=vals["bpp"], psnr=vals["psnr"])
            log.row(step, lr, vals)
            _save(out, opts, model, optimizer, step, rng, log, last=late)
        if late:
            if rank == 0:
                _logger.info("--max-minutes %g reached: stopped at step %d of %d (checkpoint saved; the same "
                             "command resumes)", opts.max_minutes, step, opts.steps)
            break
    progress.close()
    if rank == 0:
        log.close()
    if distributed:
        dist.destroy_process_group()
    return out / "last.pt"
