"""The recorded command line is rebuilt from the parser: it parses back to the same arguments, every flag
included; and every command that writes takes -o and --out."""
from __future__ import annotations

import argparse
import shlex

import pytest

from edgecodec.cli.main import build_parser
from edgecodec.cli.record import command_line

WRITERS = {"encode": ["a.png"], "decode": ["a.ecb"], "package": ["run/last.pt"], "train": ["d"], "qat": ["d"],
           "train-conditional": [], "eval": ["imgs"], "eval-video": ["v.mp4"], "calibrate": [],
           "export onnx": [], "export trt": []}


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _values(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k != "run"}


@pytest.mark.parametrize("argv", [
    ["eval", "my images", "--qualities", "5", "30.5", "--baselines", "-o", "x y", "--plot-crops"],
    ["eval-video", "v.mp4", "--out", "o", "--fps", "2", "--image-qualities", "0.1234567"],
    ["calibrate", "--source", "csi:0", "-o", "o", "--budget-kbps", "100", "--fps", "1", "--adapt", "--intra"],
    ["token", "add", "cam1", "--data", "d", "--role", "viewer"],
    ["serve", "--no-access-log"],
])
def test_the_record_parses_back_to_the_same_arguments(argv):
    args = _parse(argv)
    line = command_line(args)
    assert line.startswith(f"edgecodec {argv[0]} ")
    assert _values(_parse(shlex.split(line)[1:])) == _values(args)


def test_every_flag_is_recorded_with_its_value_defaults_included():
    line = command_line(_parse(["eval", "imgs"]))
    assert line == ("edgecodec eval imgs --backend torch --qualities 5 15 30 50 70 90 --baselines jpeg webp avif jxl "
                    "--out eval-out --images 0 --threads 1")


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_every_writing_command_takes_o_and_out(command, tmp_path):
    words = command.split()
    short = _parse([*words, *WRITERS[command], "-o", "x", *_required(words)])
    long = _parse([*words, *WRITERS[command], "--out", "x", *_required(words)])
    assert _values(short) == _values(long)


def _required(words: list[str]) -> list[str]:
    """The other required flags of a command."""
    return {"calibrate": ["--source", "v.mp4", "--budget-kbps", "1", "--fps", "1"],
            "qat": ["--init", "m"]}.get(words[0], [])
