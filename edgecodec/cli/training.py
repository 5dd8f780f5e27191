"""``edgecodec train``."""
from __future__ import annotations

import argparse

from ..train.loop import TrainOptions
from .logs import add_log_level, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (resumes from OUT/last.pt)",
                       description="Rate-distortion training on a folder of photos; resumable; "
                                   "multi-GPU with torchrun.")
    d = TrainOptions(data="", out="")
    p.add_argument("data", help="folder of training images (never the test set)")
    p.add_argument("-o", "--out", required=True, help="run folder for checkpoints and log.csv")
    p.add_argument("--config", default=d.config, help="registered model configuration")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps")
    p.add_argument("--batch", type=int, default=d.batch, help="crops per step (per GPU)")
    p.add_argument("--crop", type=int, default=d.crop, help="crop size in pixels (multiple of 64)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--lr-final", type=float, default=d.lr_final, help="learning rate at the last step")
    p.add_argument("--metric", choices=("mse", "ms-ssim"), default=d.metric, help="distortion measure")
    p.add_argument("--device", choices=("cpu", "cuda"), default=d.device, help="training device")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints")
    p.add_argument("--threads", type=int, default=d.threads, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    p.add_argument("--keep-every", type=int, default=0,
                   help="also keep a model snapshot every N steps (for equal-budget comparisons)")
    p.add_argument("--stop-at", type=int, default=None,
                   help="checkpoint and exit at this step, keeping the schedule of --steps (resume later)")
    p.add_argument("--max-minutes", type=float, default=None, metavar="MIN",
                   help="checkpoint and exit after this much wall time, keeping the schedule of --steps "
                        "(the same command resumes)")
    p.add_argument("--spatial", default=None, metavar="FLAGS",
                   help="with --init: fine-tune into another spatial-context plan, one 0/1 per slice "
                        "(e.g. 11100 drops it from the last two of five slices)")
    p.add_argument("--lambda-range", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="with --init: fine-tune to another rate range (the lambdas of the lowest and "
                        "highest quality; each level's gains start on the learned gain curve at its new lambda; "
                        "the model's id changes)")
    add_log_level(p)
    p.set_defaults(run=run)

    q = sub.add_parser("qat", help="int8 quantisation-aware fine-tuning of a float model",
                       description="Fine-tune a float checkpoint with int8 fake quantisation (per-channel "
                                   "weights, per-tensor activations with learned steps, sampling inputs "
                                   "included) for explicit Q/DQ export. --parts encoder keeps the decoder "
                                   "and its model id unchanged.")
    q.add_argument("data", help="folder of training images")
    q.add_argument("--init", required=True, help="the float checkpoint to quantise")
    q.add_argument("-o", "--out", required=True, help="run folder (resumes from OUT/last.pt)")
    q.add_argument("--parts", choices=("encoder", "all"), default="all",
                   help="quantise the analysis only (the encoder side) or also the synthesis; the "
                        "hyper-analysis and two synthesis convolutions stay float (the int8 plan)")
    q.add_argument("--steps", type=int, default=2000, help="fine-tuning steps")
    q.add_argument("--batch", type=int, default=d.batch, help="crops per step")
    q.add_argument("--crop", type=int, default=d.crop, help="crop size (multiple of 64)")
    q.add_argument("--lr", type=float, default=2e-5, help="peak learning rate")
    q.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="training device")
    q.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    add_log_level(q)
    q.set_defaults(run=run_qat)

    k = sub.add_parser("package", help="turn a training checkpoint into a frozen deployable model file",
                       description="Freeze the integer networks, build the CDF tables, drop the optimizer; "
                                   "float weights stored as float16 unless --float32.")
    k.add_argument("checkpoint", help="training checkpoint (e.g. runs/NAME/last.pt)")
    k.add_argument("-o", "--out", "--output", dest="output", required=True, help="model file to write")
    k.add_argument("--float32", action="store_true", help="keep float32 weights (twice the size)")
    k.add_argument("--drop-int8", action="store_true",
                   help="write the same weights without int8 fake quantisation (to measure what int8 costs)")
    k.set_defaults(run=run_package)
    register_conditional(sub)


def register_conditional(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("train-conditional", help="train the conditional entropy model of delta frames",
                       description="Train the conditional entropy network that codes delta frames against "
                                   "their reference, on top of a frozen intra model (key frames and the intra "
                                   "model id do not change). Pairs come from a fixed camera's video (a frame "
                                   "range, never the evaluation frames) and from still photos made into pairs.")
    c.add_argument("--model", default=None, help="intra model file (default: the shipped model)")
    c.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="model file to write: the model with this network")
    c.add_argument("--video", default=None, help="a fixed camera's video file")
    c.add_argument("--video-frames", type=int, nargs=2, default=(0, 400), metavar=("FIRST", "END"),
                   help="frames [FIRST, END) of --video to draw training pairs from (default 0 400)")
    c.add_argument("--held-out", type=int, nargs=2, default=None, metavar=("FIRST", "END"),
                   help="frames of --video to report the saving on (never trained on)")
    c.add_argument("--photos", default=None, help="folder of still photos for synthesised pairs")
    c.add_argument("--pairs", type=int, default=200, help="training pairs (half video, half photos)")
    c.add_argument("--max-gap", type=int, default=100, help="frames between a video pair's reference and frame")
    c.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    c.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay)")
    c.add_argument("--seed", type=int, default=0, help="random seed")
    c.set_defaults(run=run_conditional)


def run_conditional(args: argparse.Namespace) -> int:
    import numpy as np

    from ..checkpoint import DEFAULT_WEIGHTS, attach_conditional, load_model
    from ..imageio import refuse_overwriting
    from ..train import conditional as training

    source = args.model or str(DEFAULT_WEIGHTS)
    refuse_overwriting(source, args.output)
    if not (args.video or args.photos) or args.pairs < 2 or args.steps < 1 or args.max_gap < 1:
        raise ValueError("need --video or --photos, --pairs >= 2, --steps >= 1 and --max-gap >= 1")
    opts = training.ConditionalOptions(args.model, args.output, args.video, tuple(args.video_frames), args.photos,
                                       args.pairs, args.max_gap, args.steps, lr=args.lr, seed=args.seed,
                                       held_out=tuple(args.held_out) if args.held_out else None)
    model, rng = load_model(args.model), np.random.default_rng(args.seed)
    pairs = training.build_pairs(model, opts, rng)
    conditional = training.train(model, pairs, opts.steps, opts.lr, opts.batch, opts.seed)
    meta = {"pairs": opts.pairs, "steps": opts.steps, "video": opts.video, "video_frames": list(opts.video_frames)}
    if opts.held_out and opts.video:
        held = training.build_pairs(model, training.ConditionalOptions(
            args.model, "", opts.video, opts.held_out, None, 12, max_gap=opts.max_gap), rng)
        meta["held_out"] = training.saving(conditional, held) | {"frames": list(opts.held_out)}
        print(f"held-out frames {opts.held_out}: {meta['held_out']['saving_pct']:.1f}% fewer latent bits "
              "than the intra parameters (every position coded)")
    attach_conditional(source, args.output, conditional, meta)
    print(f"{args.output}: conditional model {conditional.identity().hex()}")
    return 0


def run_package(args: argparse.Namespace) -> int:
    from ..checkpoint import package_checkpoint
    from ..codec.facade import model_id

    model = package_checkpoint(args.checkpoint, args.output, half=not args.float32, drop_int8=args.drop_int8)
    print(f"{args.output}: {model.config.name}, model id {model_id(model).hex()}")
    return 0


def run_qat(args: argparse.Namespace) -> int:
    from ..train.loop import train

    opts = TrainOptions(data=args.data, out=args.out, steps=args.steps, batch=args.batch, crop=args.crop,
                        lr=args.lr, lr_final=args.lr / 10, device=args.device, threads=args.threads,
                        seed=args.seed, init=args.init, qat=args.parts, checkpoint_every=100)
    setup_logging(args.log_level)
    print(f"checkpoint: {train(opts)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    opts = TrainOptions(**{k: getattr(args, k) for k in TrainOptions.__dataclass_fields__ if hasattr(args, k)})
    setup_logging(args.log_level)
    path = train(opts)
    print(f"checkpoint: {path}")
    return 0
