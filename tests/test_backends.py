"""One list of backend names: the command line's choices, the daemon's configuration and the loader agree."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

import pytest

from edgecodec.cli.main import build_parser
from edgecodec.edge.config import DaemonConfig
from edgecodec.runtime import BACKENDS, load_codec
from edgecodec.server.config import ServerConfig

DEVICES = Path(__file__).resolve().parents[1] / "devices"
JETSON_PROFILES = sorted(p for p in DEVICES.glob("*.toml") if 'platform = "jetson"' in p.read_text())


def _backend_choices(command: str) -> tuple[str, ...]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(next(a for a in sub.choices[command]._actions if a.dest == "backend").choices)


@pytest.mark.parametrize("command", ["encode", "decode", "daemon"])
def test_commands_offer_every_backend(command):
    assert _backend_choices(command) == BACKENDS


def test_the_daemon_configuration_allows_exactly_the_backends():
    assert get_args(DaemonConfig.model_fields["backend"].annotation) == BACKENDS


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_server_commands_offer_what_the_server_configuration_allows(command):
    allowed = get_args(ServerConfig.model_fields["backend"].annotation)
    assert _backend_choices(command) == allowed and set(allowed) <= set(BACKENDS)


def test_the_loader_names_the_list():
    with pytest.raises(ValueError, match="choose " + ", ".join(BACKENDS)):
        load_codec(None, "openvino")


@pytest.fixture
def overrides(tmp_path) -> list[str]:
    (tmp_path / "token").write_text("ecb_x")
    return ["--spool", str(tmp_path / "spool"), "--token-file", str(tmp_path / "token"),
            "--server", "https://nvr.example", "--device-id", "gate-1", "--validate-config"]


@pytest.mark.parametrize("profile", JETSON_PROFILES, ids=lambda p: p.stem)
def test_daemon_backend_tensorrt_flag_is_accepted_with_every_jetson_profile(profile, overrides, cli):
    assert 'backend = "tensorrt"' in profile.read_text()
    result = cli("daemon", "--config", profile, "--backend", "tensorrt", *overrides)
    assert result.rc == 0 and "valid" in result.out, result.err


def test_backend_tensorrt_without_a_device_table_is_a_one_line_config_error(tmp_path, overrides, cli):
    result = cli("daemon", "--source", "0", "--backend", "tensorrt", *overrides)
    assert result.rc == 1 and len(result.err_lines) == 1, result.err
    assert "backend tensorrt needs a [device] table" in result.err
