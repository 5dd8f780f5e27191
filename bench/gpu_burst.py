"""A GPU burst, ready to fire: fine-tune the intra model on a lent GPU machine for one command of
under 10 minutes, then package and evaluate the result on the CPU. Three steps (docs/RESULTS.md,
"GPU burst"):

    .venv/bin/python bench/gpu_burst.py prepare            # here: builds .burst/, prints the run call
    run(command="... python3 bench/gpu_burst.py device ...", carry=[".burst"], timeout_s=600)
    .venv/bin/python bench/gpu_burst.py post FILES_AT      # here: package, Kodak eval, ship or not

`device` runs on the GPU machine from the repository root, under the machine's python3 (it holds
CUDA PyTorch; nothing is installed, nothing fetched): edgecodec is imported from the tree, the rANS
extension is compiled for that Python (training never codes bits, so a stub stands in if no
compiler is there). It trains `--init` the start model (the shipped weights unless `prepare --init`
named another) on the carried photos: a short probe run measures the speed, --steps is sized so the
cosine schedule ends inside the budget, and `train --max-minutes` stops it in time regardless. The
checkpoint (optimizer included, resumable) comes back in parts of 15 MiB (the tool returns at most
16 MiB a file), with log.csv, burst.log and burst.json. A dry run of the same path on the CPU:

    .venv/bin/python bench/gpu_burst.py device --device cpu --minutes 1 --batch 2 --probe-steps 4 --out /tmp/o
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".burst"  # ignored (.gitignore); named in the run call's carry list
SHIPPED = "edgecodec/weights/dkic-small.pt"
TREE_LIMIT = 64 << 20  # what travels: tracked + untracked-not-ignored files + carried paths
PART = 15 << 20  # each returned file at most 16 MiB
RESERVE_S = 30.0  # kept at the end of the budget for the last checkpoint and the export (at most 15 %)
log = logging.getLogger("burst")


# ---------------------------------------------------------------- prepare (here, on the CPU)

def travelling_bytes() -> int:
    """Bytes of the working tree that travel: tracked and untracked-not-ignored files, and .burst."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    files = [ROOT / f for f in listed if f] + [p for p in CARRY.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files if p.is_file())


def copy_photos(source: Path, count: int) -> int:
    """The training photos into .burst/data (all, or ``count`` spread evenly over the sorted list)."""
    sys.path.insert(0, str(ROOT))
    from edgecodec.imageio import list_images

    photos = list_images(source)
    if 0 < count < len(photos):
        photos = [photos[i * len(photos) // count] for i in range(count)]
    data = CARRY / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    for p in photos:
        shutil.copyfile(p, data / p.name)
    return len(photos)


def write_init(source: str) -> str:
    """The start model as the device will name it: the shipped file travels with the tree; another
    model file or training checkpoint goes to .burst/init.pt without its optimizer state."""
    target = CARRY / "init.pt"
    target.unlink(missing_ok=True)
    if Path(source).resolve() == (ROOT / SHIPPED).resolve():
        return SHIPPED
    sys.path.insert(0, str(ROOT))
    from edgecodec.checkpoint import atomic_torch_save, build_model, read_checkpoint

    payload = read_checkpoint(source)
    build_model(source, payload)  # refuses what --init could not load, here rather than on the GPU
    atomic_torch_save({k: payload[k] for k in ("format", "config", "model", "step", "meta") if k in payload}, target)
    return str(target.relative_to(ROOT))


def prepare(args: argparse.Namespace) -> int:
    photos = copy_photos(Path(args.data), args.photos)
    init = write_init(args.init)
    size = travelling_bytes()
    print(f"{CARRY.relative_to(ROOT)}/: {photos} photos, start model {init}; the tree that travels: "
          f"{size / 2**20:.1f} MiB of {TREE_LIMIT >> 20} MiB")
    if size > TREE_LIMIT - (1 << 20):
        print("too large to travel: carry fewer photos (--photos N)", file=sys.stderr)
        return 1
    flags = [f"--minutes {args.minutes:g}", f"--batch {args.batch}", f"--lr {args.lr:g}",
             f"--lr-final {args.lr_final:g}"] + ([f"--steps {args.steps}"] if args.steps else [])
    command = f"PYTHONUNBUFFERED=1 python3 bench/gpu_burst.py device --out \"$OUT\" {' '.join(flags)}"
    print("\n1. status: budget_left_s must cover the machine's start (1-2 min) and the command "
          f"({args.minutes:g} min, set-up included); else prepare again with a smaller --minutes.")
    print("2. the device call, then give_back at once:")
    print(f"   command:   {command}\n   carry:     [\".burst\"]\n   timeout_s: {min(600, int(60 * args.minutes) + 90)}")
    print("3. here, with the reply's files_at folder:")
    print("   .venv/bin/python bench/gpu_burst.py post FILES_AT")
    return 0


# ---------------------------------------------------------------- device (the GPU machine)

def _with_torch() -> None:
    """Re-run under a Python that has PyTorch when this one lacks it (the device's image keeps it
    in /opt/torch/.venv)."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    for candidate in ("/opt/torch/.venv/bin/python3", shutil.which("python3"), shutil.which("python")):
        if candidate and os.path.isfile(candidate) and os.path.abspath(candidate) != os.path.abspath(sys.executable) \
                and subprocess.run([candidate, "-c", "import torch"], capture_output=True).returncode == 0:
            os.execv(candidate, [candidate, *sys.argv])
    sys.exit("burst: no Python with PyTorch on this machine")


def _rans_ready() -> str:
    """Make edgecodec importable from the tree; the rANS extension built for this Python, or a stub."""
    sys.path.insert(0, str(ROOT))
    try:
        import edgecodec.codec.entropy._rans  # noqa: F401
        return "rANS extension present"
    except ImportError:
        pass
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=ROOT,
                           capture_output=True, text=True, timeout=180)
    try:
        import edgecodec.codec.entropy._rans  # noqa: F401,F811
        return "rANS extension compiled for this Python"
    except ImportError:
        import types

        def missing(*args, **kwargs):
            raise RuntimeError("rANS extension not built on this machine (training codes no bits)")

        stub = types.ModuleType("edgecodec.codec.entropy._rans")
        for name in ("encode", "validate", "Decoder"):  # what rans.py calls
            setattr(stub, name, missing)
        sys.modules[stub.__name__] = stub
        return f"rANS stub (training codes no bits; the build said: {build.stderr.strip()[-200:]!r})"


class Terminated(BaseException):
    """SIGTERM (the tool's timeout): stop training and export the last checkpoint."""


def _terminate(signum, frame):
    raise Terminated()


def _rows(run: Path) -> list[tuple[int, float]]:
    lines = (run / "log.csv").read_text().splitlines()[1:]
    return [(int(r.split(",")[0]), float(r.split(",")[1])) for r in lines if r]


def _steps_for(run: Path, phase_s: float, seconds_left: float, margin: float = 0.9) -> tuple[int, float]:
    """(total steps that end inside ``seconds_left``, measured steps/s) from the probe's log."""
    rows = _rows(run)
    first = rows[len(rows) // 3]
    last = rows[-1]
    rate = (last[0] - first[0]) / max(last[1] - first[1], 1e-6)
    restart_s = max(phase_s - last[1], 0.0)  # model build, data, checkpoint: paid again on resume
    return last[0] + max(1, int(rate * max(seconds_left - restart_s, 0.0) * margin)), rate


def _options(args: argparse.Namespace, run: Path, init: str, **kw):
    from edgecodec.train.loop import TrainOptions

    base = dict(data=args.data, out=str(run), batch=args.batch, crop=args.crop, lr=args.lr, lr_final=args.lr_final,
                device=args.device, seed=args.seed, threads=args.threads, init=init, checkpoint_every=1000)
    return TrainOptions(**(base | kw))


def _export(run: Path, out: Path, meta: dict) -> None:
    """last.pt in 15-MiB parts, log.csv and burst.json into ``out``."""
    ckpt = run / "last.pt"
    if not ckpt.exists():
        log.error("no checkpoint to export")
        return
    blob = ckpt.read_bytes()
    parts = [f"last.pt.{i:02d}" for i in range(0, -(-len(blob) // PART))]
    for i, name in enumerate(parts):
        (out / name).write_bytes(blob[i * PART:(i + 1) * PART])
    shutil.copyfile(run / "log.csv", out / "log.csv")
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    meta |= {"parts": parts, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
             "step": int(state["step"]), "steps": int(state["options"]["steps"]),
             "config": state["config"]["name"], "options": state["options"]}
    meta["finished"] = meta["step"] >= meta["steps"]
    (out / "burst.json").write_text(json.dumps(meta, indent=1, default=str))
    log.info("exported step %d of %d (%s) as %d parts, %.1f MiB", meta["step"], meta["steps"],
             "schedule finished" if meta["finished"] else "schedule NOT finished", len(parts), len(blob) / 2**20)


def _train_in_budget(args: argparse.Namespace, run: Path, deadline: float, meta: dict) -> None:
    from edgecodec.train.loop import train

    init = str(CARRY / "init.pt") if (CARRY / "init.pt").exists() else str(ROOT / SHIPPED)
    meta["init"] = str(Path(init).relative_to(ROOT))
    reserve = min(RESERVE_S, 0.15 * 60 * args.minutes)
    minutes = lambda: max(deadline - reserve - time.monotonic(), 1.0) / 60  # noqa: E731
    start = time.monotonic()
    train(_options(args, run, init, steps=args.steps or 10**6, stop_at=args.probe_steps, max_minutes=minutes()))
    phase_s = time.monotonic() - start
    if args.steps:
        steps, rate = args.steps, None
    else:
        steps, rate = _steps_for(run, phase_s, 60 * minutes())
    meta |= {"probe_steps_per_s": rate, "planned_steps": steps}
    log.info("probe: %s steps/s; schedule of %d steps, %.2f min left", f"{rate:.3g}" if rate else "-", steps,
             minutes())
    if 60 * minutes() < 0.5 * phase_s:  # a resume alone would overrun: keep the probe's checkpoint
        log.error("no time left for the schedule after the probe: exporting the probe's checkpoint")
        return
    train(_options(args, run, init, steps=steps, max_minutes=minutes()))


def device(args: argparse.Namespace) -> int:
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    _with_torch()
    out = Path(args.out or os.environ.get("OUT", ""))
    if not str(out):
        sys.exit("burst: --out or $OUT is needed")
    out.mkdir(parents=True, exist_ok=True)
    handlers = [logging.StreamHandler(sys.stdout), logging.FileHandler(out / "burst.log")]
    logging.basicConfig(level=logging.INFO, handlers=handlers, format="%(asctime)s %(name)s: %(message)s")
    import torch

    meta = {"python": sys.version.split()[0], "torch": torch.__version__, "device": args.device,
            "minutes": args.minutes, "rans": _rans_ready()}
    if args.device == "cuda":
        if not torch.cuda.is_available():
            log.error("CUDA requested, but torch %s sees no GPU", torch.__version__)
            return 1
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its kernels once
        torch.set_float32_matmul_precision("high")  # TF32 matmuls, as cuDNN's convolutions already are
        meta["gpu"] = torch.cuda.get_device_name(0)
    log.info("environment: %s", json.dumps(meta))
    signal.signal(signal.SIGTERM, _terminate)
    run = Path(args.run_dir or f"/tmp/edgecodec-burst-{os.getpid()}")
    shutil.rmtree(run, ignore_errors=True)
    try:
        _train_in_budget(args, run, deadline, meta)
    except Terminated:
        log.error("terminated: exporting the last checkpoint written")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        meta["wall_s"] = round(time.monotonic() - start, 1)
        _export(run, out, meta)
    return 0


# ---------------------------------------------------------------- post (here, on the CPU)

def assemble(files: Path, run: Path) -> dict:
    """Reassemble the returned parts into run/last.pt, checked against burst.json."""
    meta = json.loads((files / "burst.json").read_text())
    missing = [p for p in meta["parts"] if not (files / p).exists()]
    if missing:
        raise SystemExit(f"burst: parts missing from {files}: {missing} (see the reply's files_left_out)")
    blob = b"".join((files / p).read_bytes() for p in meta["parts"])
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise SystemExit("burst: the reassembled checkpoint does not match burst.json's sha256")
    run.mkdir(parents=True, exist_ok=True)
    (run / "last.pt").write_bytes(blob)
    for name in ("log.csv", "burst.log", "burst.json"):
        if (files / name).exists():
            shutil.copyfile(files / name, run / name)
    return meta


def edgecodec(*argv) -> None:
    cmd = [sys.executable, "-m", "edgecodec", *map(str, argv)]
    print("$", shlex.join(cmd[2:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def verdict(ref_json: Path, new_json: Path, min_gain: float) -> tuple[bool, list[str]]:
    """Ship when the burst model is at least ``min_gain`` % BD-rate cheaper at equal PSNR and keeps
    the ends of the rate range (lowest bpp, highest PSNR)."""
    sys.path.insert(0, str(ROOT))
    from edgecodec.evaluation.runner import bd_against, curve

    ref, new = (json.loads(p.read_text())["codecs"]["edgecodec"] for p in (ref_json, new_json))
    bd = bd_against(curve(new), curve(ref))
    low = lambda r: min(p["bpp"] for p in r["points"])  # noqa: E731
    top = lambda r: max(p["psnr"] for p in r["points"])  # noqa: E731
    fmt = lambda v, unit: "n/a" if v is None else f"{v:+.2f}{unit}"  # noqa: E731
    reasons = [f"against the reference: BD-rate (PSNR) {fmt(bd['bd_rate_psnr_pct'], ' %')}, BD-PSNR "
               f"{fmt(bd['bd_psnr_db'], ' dB')}, BD-rate (MS-SSIM) {fmt(bd['bd_rate_msssim_pct'], ' %')}",
               f"lowest rate {low(new):.4f} bpp (reference {low(ref):.4f}); top PSNR {top(new):.2f} dB "
               f"(reference {top(ref):.2f})"]
    gain = bd["bd_rate_psnr_pct"] is not None and bd["bd_rate_psnr_pct"] <= -min_gain
    keeps_range = low(new) <= 1.1 * low(ref) and top(new) >= top(ref) - 0.1
    return gain and keeps_range, reasons


def post(args: argparse.Namespace) -> int:
    run = Path(args.run)
    meta = assemble(Path(args.files), run)
    model = run / f"{meta['config']}-burst-step{meta['step']}.pt"
    print(f"burst: step {meta['step']} of {meta['steps']} ({'finished' if meta['finished'] else 'NOT finished'})"
          f", {meta.get('gpu', meta['device'])}, {meta.get('probe_steps_per_s') or 0:.3g} steps/s, batch "
          f"{meta['options']['batch']}; checkpoint {run / 'last.pt'} (resumable)")
    model.unlink(missing_ok=True)
    edgecodec("package", run / "last.pt", "-o", model)
    if args.no_eval:
        return 0
    common = ["--qualities", *args.qualities, "--baselines", "--threads", args.threads, "--images", args.images]
    results = {"reference": Path(args.reference_results) if args.reference_results else None}
    for name, path in (("reference", args.reference), ("burst", model)):
        if results.get(name) is None:
            results[name] = run / f"eval-{name}" / "results.json"
            edgecodec("eval", args.kodak, "--model", path, "--out", results[name].parent, *common)
    edgecodec("compare", results["reference"], results["burst"])
    ship, reasons = verdict(results["reference"], results["burst"], args.min_gain)
    print("\n".join(["", *reasons, f"verdict: {'SHIP' if ship else 'do not ship'} (threshold: BD-rate <= "
                     f"-{args.min_gain:g} % and the rate range kept)"]))
    if ship:
        print(f"to ship: cp {model} {SHIPPED}; make test; retrain the conditional network on it "
              "(edgecodec train-conditional); update docs/RESULTS.md sections 3-4 with a full eval")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    pr = sub.add_parser("prepare", help="build .burst/ (photos, start model) and print the device call")
    pr.add_argument("--data", default=str(ROOT.parent / "shared/data/train/bsds432"), help="training photos")
    pr.add_argument("--photos", type=int, default=0, help="carry only N photos, spread evenly (0: all)")
    pr.add_argument("--init", default=str(ROOT / SHIPPED), help="start model (default: the shipped one)")
    dv = sub.add_parser("device", help="train within the budget, export to --out (on the GPU machine)")
    dv.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the dry run")
    dv.add_argument("--out", default=None, help="folder for the returned files (default $OUT)")
    dv.add_argument("--data", default=str(CARRY / "data"), help="training photos (the carried copy)")
    dv.add_argument("--run-dir", default=None, help="training run folder (default: a fresh one in /tmp)")
    dv.add_argument("--probe-steps", type=int, default=60, help="steps timed before the schedule is sized")
    dv.add_argument("--crop", type=int, default=128, help="crop size (the shipped model's)")
    dv.add_argument("--seed", type=int, default=0, help="random seed")
    dv.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    for q in (pr, dv):
        q.add_argument("--minutes", type=float, default=8.0, help="wall budget of the whole device command")
        q.add_argument("--batch", type=int, default=32, help="crops per step (the CPU runs use 8)")
        q.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (after a 500-step warm-up)")
        q.add_argument("--lr-final", type=float, default=1e-5, help="learning rate at the schedule's end")
        q.add_argument("--steps", type=int, default=0, help="schedule length (0: sized from the probe's speed)")
    po = sub.add_parser("post", help="package the returned checkpoint, evaluate it on Kodak, ship or not")
    po.add_argument("files", help="the folder the device's files came back to (the reply's files_at)")
    po.add_argument("--run", default=str(ROOT / "runs" / "burst"), help="where the checkpoint is reassembled")
    po.add_argument("--kodak", default=str(ROOT.parent / "shared/data/kodak"), help="test images")
    po.add_argument("--reference", default=str(ROOT / SHIPPED), help="model to compare against")
    po.add_argument("--reference-results", default=None,
                    help="results.json of the reference from an earlier post with the same settings (reused)")
    po.add_argument("--qualities", nargs="+", default=["0", "5", "15", "30", "50", "70", "90", "100"])
    po.add_argument("--images", default="0", help="only the first N images (0: all 24)")
    po.add_argument("--threads", default="2", help="threads of the evaluation")
    po.add_argument("--min-gain", type=float, default=1.0, help="BD-rate gain (%%) needed to ship")
    po.add_argument("--no-eval", action="store_true", help="reassemble and package only")
    args = p.parse_args()
    return {"prepare": prepare, "device": device, "post": post}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
