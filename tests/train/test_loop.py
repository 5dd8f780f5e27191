"""Training: loss decreases on a fixed batch; an interrupted run resumes exactly; a wall-time budget
(--max-minutes) stops a run with a checkpoint and keeps its schedule."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgecodec.checkpoint import from_checkpoint, read_checkpoint
from edgecodec.train.loop import TrainOptions, _match_param_layout, train

SAMPLES = Path(__file__).resolve().parents[1] / "data"


pytestmark = pytest.mark.usefixtures("one_thread")


def options(out: Path, **kw) -> TrainOptions:
    base = dict(data=str(SAMPLES), out=str(out), config="dkic-tiny", steps=6, batch=2, crop=64,
                checkpoint_every=100, seed=3)
    base.update(kw)
    return TrainOptions(**base)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    train(options(tmp_path / "straight"))
    train(options(tmp_path / "resumed", stop_at=4))
    assert read_checkpoint(tmp_path / "resumed" / "last.pt")["step"] == 4
    train(options(tmp_path / "resumed"))
    a = read_checkpoint(tmp_path / "straight" / "last.pt")
    b = read_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["step"] == b["step"] == 6
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    lines = (tmp_path / "resumed" / "log.csv").read_text().splitlines()
    assert len(lines) == 1 + 6  # header + one row per step, no duplicates after the resume


class MinuteClock:
    """A fake clock for the --max-minutes budget: one minute later at every reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def test_max_minutes_stops_with_a_checkpoint_and_resumes_on_the_same_schedule(tmp_path, monkeypatch):
    from edgecodec.train import loop

    train(options(tmp_path / "straight"))
    monkeypatch.setattr(loop, "_clock", MinuteClock())  # read at the start, then after every step
    train(options(tmp_path / "budget", max_minutes=2.5))
    assert read_checkpoint(tmp_path / "budget" / "last.pt")["step"] == 3  # saved although checkpoint_every=100
    train(options(tmp_path / "budget"))  # the same command without the budget finishes the schedule of 6
    a = read_checkpoint(tmp_path / "straight" / "last.pt")
    b = read_checkpoint(tmp_path / "budget" / "last.pt")
    assert a["step"] == b["step"] == 6
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert len((tmp_path / "budget" / "log.csv").read_text().splitlines()) == 1 + 6


def test_max_minutes_on_the_command_line_stops_a_long_run_early(tmp_path):
    from edgecodec.cli.main import main

    run = tmp_path / "run"
    # 6 ms: spent before the first step ends, so the run stops after it, far from its 1000 steps
    assert main(["train", str(SAMPLES), "--out", str(run), "--config", "dkic-tiny", "--steps", "1000",
                 "--crop", "64", "--batch", "1", "--threads", "1", "--max-minutes", "0.0001"]) == 0
    state = read_checkpoint(run / "last.pt")
    assert state["step"] < 1000 and state["options"]["max_minutes"] == 0.0001


def test_checkpoint_codes_after_training(tmp_path):
    path = train(options(tmp_path / "run", steps=2))
    model = from_checkpoint(path)  # a training checkpoint freezes on load
    assert bool(model.hyper_synthesis.out.requant.frozen)


def test_loss_decreases_on_a_fixed_batch():
    from edgecodec.checkpoint import init_model
    from edgecodec.codec.models.config import get_config
    from edgecodec.train.loop import rd_loss

    torch.manual_seed(0)
    model = init_model(get_config("dkic-tiny")).train()
    x = torch.rand(2, 3, 64, 64).mul(0.3).add(torch.linspace(0, 0.6, 64).view(1, 1, 1, 64))
    level = torch.tensor([1.0, 4.0])
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    losses = []
    for _ in range(40):
        parts = rd_loss(model, x, level, "mse")
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(float(parts["loss"].detach()))
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_train_and_package_from_the_command_line(tmp_path):
    from edgecodec.cli.main import main

    run = tmp_path / "run"
    assert main(["train", str(SAMPLES), "--out", str(run), "--config", "dkic-tiny", "--steps", "2",
                 "--crop", "64", "--batch", "1", "--keep-every", "1", "--threads", "1"]) == 0
    assert (run / "step0000001.pt").exists() and (run / "step0000002.pt").exists()
    assert main(["package", str(run / "last.pt"), "-o", str(tmp_path / "model.pt")]) == 0
    model = from_checkpoint(tmp_path / "model.pt")
    assert not any(p.dtype == torch.float16 for p in model.parameters())  # stored as float16, loaded as float32


def test_resumed_moments_take_their_parameters_layout():
    conv = torch.nn.Conv2d(4, 8, 3)
    optimizer = torch.optim.Adam(conv.parameters())
    conv(torch.rand(1, 4, 5, 5)).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    for moments in saved["state"].values():  # as a channels-last run would have saved them
        for key in ("exp_avg", "exp_avg_sq"):
            if moments[key].dim() == 4:
                moments[key] = moments[key].contiguous(memory_format=torch.channels_last)
    resumed = torch.optim.Adam(conv.parameters())
    resumed.load_state_dict(saved)
    _match_param_layout(resumed)
    for p, moments in resumed.state.items():
        assert moments["exp_avg"].stride() == p.stride() and moments["exp_avg_sq"].stride() == p.stride()
        torch.testing.assert_close(moments["exp_avg"], optimizer.state[p]["exp_avg"], rtol=0, atol=0)



BAD_OPTIONS = [("--steps", "0"), ("--crop", "0"), ("--crop", "-64"), ("--batch", "0"),
               ("--lr", "0"), ("--lr", "nan"), ("--threads", "-1"), ("--seed", "-1")]  # train and qat
TRAIN_ONLY = [("--stop-at", "-1"), ("--checkpoint-every", "0"), ("--keep-every", "-1"),
              ("--max-minutes", "0"), ("--max-minutes", "nan")]


@pytest.mark.parametrize("command, option, value", [("train", *o) for o in BAD_OPTIONS + TRAIN_ONLY] +
                         [("qat", *o) for o in BAD_OPTIONS])
def test_bad_options_are_refused_before_anything_is_created(cli, tmp_path, command, option, value):
    run = tmp_path / "run"
    argv = [command, SAMPLES, "--out", run, "--steps", 2, "--crop", 64, "--batch", 1, "--threads", 1]
    if command == "qat":
        argv += ["--init", SAMPLES.parent / "golden" / "dkic-tiny.pt"]
    else:
        argv += ["--config", "dkic-tiny"]
    res = cli(*argv, option, value)
    assert res.rc == 1 and len(res.err_lines) == 1, res.err
    assert res.err.startswith(f"edgecodec: error: {option} must be "), res.err
    assert not run.exists() and not res.out


def test_lambda_range_fine_tune_moves_the_levels_and_needs_init(tmp_path):
    from edgecodec.cli.main import main

    base, tuned = tmp_path / "base", tmp_path / "tuned"
    common = ["--config", "dkic-tiny", "--steps", "1", "--crop", "64", "--batch", "1", "--threads", "1"]
    assert main(["train", str(SAMPLES), "--out", str(base), *common]) == 0
    assert main(["train", str(SAMPLES), "--out", str(tuned), "--init", str(base / "last.pt"),
                 "--lambda-range", "0.0005", "0.3", *common]) == 0
    config = read_checkpoint(tuned / "last.pt")["config"]
    assert (config["lambda_min"], config["lambda_max"]) == (0.0005, 0.3)
    model = from_checkpoint(tuned / "last.pt")
    levels = torch.tensor([0.0, model.config.quality_levels - 1.0])
    torch.testing.assert_close(model.lmbda(levels), torch.tensor([0.0005, 0.3]))
    with pytest.raises(ValueError, match="rate range: it needs --init"):
        train(options(tmp_path / "fresh", lambda_range=(0.0005, 0.3)))
    with pytest.raises(ValueError, match="lambda"):
        train(options(tmp_path / "bad", init=str(base / "last.pt"), lambda_range=(0.3, 0.0005)))
