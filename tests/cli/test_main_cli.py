"""The command line's own behaviour: --version, usage errors in one line naming the command once,
--log-level and timestamped log lines for the long-running commands."""
from __future__ import annotations

import io
import logging
import os
import re

import pytest

from edgecodec.cli.logs import setup_logging
from edgecodec.cli.main import version

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "


def test_version(cli):
    result = cli("--version")
    assert result.rc == 0 and result.out == f"edgecodec {version()}\n" and version()[0].isdigit()


@pytest.mark.parametrize("argv,line", [
    (("encode", "x.png"), "edgecodec: error: encode: the following arguments are required: -o/--out/--output"),
    (("token", "add"), "edgecodec: error: token add: the following arguments are required: name, --data"),
    ((), "edgecodec: error: the following arguments are required: COMMAND"),
])
def test_usage_errors_name_the_command_once(cli, argv, line):
    result = cli(*argv)
    assert result.rc == 2 and result.err_lines == [f"{line} (see --help)"], result.err


@pytest.mark.parametrize("command", ["daemon", "serve", "worker", "train", "qat"])
def test_long_running_commands_take_a_log_level(command, cli):
    result = cli(command, "--log-level", "loud")
    assert result.rc == 2 and "argument --log-level: invalid choice: 'loud'" in result.err, result.err


@pytest.fixture
def root_logger():
    """Call ``clear()`` to empty the root logger (pytest's capture handlers too) as at a command's start;
    its handlers and level are restored after the test."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield root.handlers
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_log_lines_are_timestamped_at_the_chosen_level(root_logger):
    stream = io.StringIO()
    root_logger.clear()
    setup_logging("warning", stream=stream)
    logging.getLogger("edgecodec.daemon").info("not shown")
    logging.getLogger("edgecodec.daemon").warning("shown")
    assert re.fullmatch(STAMP + "edgecodec edgecodec.daemon: WARNING: shown\n", stream.getvalue()), stream.getvalue()


def test_journald_lines_carry_no_second_timestamp(root_logger, tmp_path, monkeypatch):
    with open(tmp_path / "journal", "w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        root_logger.clear()
        setup_logging("debug", stream=stream)
        logging.getLogger("edgecodec.server").debug("hello")
    assert (tmp_path / "journal").read_text() == "edgecodec edgecodec.server: DEBUG: hello\n"
