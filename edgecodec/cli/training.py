"""``edgecodec train``."""
from __future__ import annotations

import argparse

from ..train.loop import TrainOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (resumes from OUT/last.pt)",
                       description="Rate-distortion training on a folder of photos; resumable; "
                                   "multi-GPU with torchrun.")
    d = TrainOptions(data="", out="")
    p.add_argument("data", help="folder of training images (never the test set)")
    p.add_argument("--out", required=True, help="run folder for checkpoints and log.csv")
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
    p.add_argument("--spatial", default=None, metavar="FLAGS",
                   help="with --init: fine-tune into another spatial-context plan, one 0/1 per slice "
                        "(e.g. 11100 drops it from the last two of five slices)")
    p.add_argument("--lambda-range", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="with --init: fine-tune to another rate range (the lambdas of the lowest and "
                        "highest quality; each level's gains start on the learned gain curve at its new lambda; "
                        "the model's id changes)")
    p.set_defaults(run=run)

    q = sub.add_parser("qat", help="int8 quantisation-aware fine-tuning of a float model",
                       description="Fine-tune a float checkpoint with int8 fake quantisation (per-channel "
                                   "weights, per-tensor activations with learned steps, sampling inputs "
                                   "included) for explicit Q/DQ export. --parts encoder keeps the decoder "
                                   "and its model id unchanged.")
    q.add_argument("data", help="folder of training images")
    q.add_argument("--init", required=True, help="the float checkpoint to quantise")
    q.add_argument("--out", required=True, help="run folder (resumes from OUT/last.pt)")
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
    q.set_defaults(run=run_qat)

    k = sub.add_parser("package", help="turn a training checkpoint into a frozen deployable model file",
                       description="Freeze the integer networks, build the CDF tables, drop the optimizer; "
                                   "float weights stored as float16 unless --float32.")
    k.add_argument("checkpoint", help="training checkpoint (e.g. runs/NAME/last.pt)")
    k.add_argument("-o", "--output", required=True, help="model file to write")
    k.add_argument("--float32", action="store_true", help="keep float32 weights (twice the size)")
    k.add_argument("--drop-int8", action="store_true",
                   help="write the same weights without int8 fake quantisation (to measure what int8 costs)")
    k.set_defaults(run=run_package)


def run_package(args: argparse.Namespace) -> int:
    from ..checkpoint import package_checkpoint
    from ..codec.codec import model_id

    model = package_checkpoint(args.checkpoint, args.output, half=not args.float32, drop_int8=args.drop_int8)
    print(f"{args.output}: {model.config.name}, model id {model_id(model).hex()}")
    return 0


def run_qat(args: argparse.Namespace) -> int:
    from ..train.loop import train

    opts = TrainOptions(data=args.data, out=args.out, steps=args.steps, batch=args.batch, crop=args.crop,
                        lr=args.lr, lr_final=args.lr / 10, device=args.device, threads=args.threads,
                        seed=args.seed, init=args.init, qat=args.parts, checkpoint_every=100)
    print(f"checkpoint: {train(opts)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    opts = TrainOptions(**{k: getattr(args, k) for k in TrainOptions.__dataclass_fields__ if hasattr(args, k)})
    path = train(opts)
    print(f"checkpoint: {path}")
    return 0
