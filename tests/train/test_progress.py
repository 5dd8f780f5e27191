"""Training progress: a bar on a terminal, periodic log lines (no carriage returns) elsewhere."""
from __future__ import annotations

import io
import logging
from pathlib import Path

from edgecodec.train.progress import Progress


class Clock:
    """A fake clock: ``step`` seconds per call after the first."""

    def __init__(self, step: float):
        self.now, self.step = -step, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream, steps: int = 20, stop: int | None = None) -> None:
    progress = Progress(steps, stream=stream, interval_s=60.0, clock=Clock(10.0))
    for _ in range(stop or steps):
        progress.update(loss=1.5, bpp=0.25)
    progress.close()


def test_off_a_terminal_a_log_line_every_interval_and_at_the_end(caplog):
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, "edgecodec.train"):
        _run(stream)
    assert stream.getvalue() == "", "no bar, no carriage return"
    steps = [r.getMessage().split(" ", 2)[1] for r in caplog.records]
    assert steps == ["6/20", "12/20", "18/20", "20/20"]
    assert caplog.records[-1].getMessage() == "step 20/20 (100%), loss 1.5, bpp 0.25, 0.1 steps/s, eta 0m00s"


def test_a_run_stopped_early_logs_where_it_stopped(caplog):
    with caplog.at_level(logging.INFO, "edgecodec.train"):
        _run(io.StringIO(), stop=8)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["step 6/20 (30%)", "step 8/20 (40%)"]


def test_on_a_terminal_a_bar_and_no_log_lines(caplog):
    stream = Terminal()
    with caplog.at_level(logging.INFO, "edgecodec.train"):
        _run(stream)
    assert caplog.records == [] and "20/20" in stream.getvalue() and "\r" in stream.getvalue()


def test_train_off_a_terminal_writes_no_bar(cli, tmp_path):
    samples = Path(__file__).resolve().parents[1] / "data"
    result = cli("train", samples, "--out", tmp_path / "run", "--config", "dkic-tiny", "--steps", "2", "--crop", "64",
                 "--batch", "1", "--threads", "1")
    assert result.rc == 0, result.err
    assert "\r" not in result.err and "it/s" not in result.err
