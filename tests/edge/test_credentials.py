"""${NAME} in a source: a systemd credential or an environment variable, substituted only when the source is
opened; an unset NAME is a one-line configuration error naming it, and no value is ever shown or written."""
from __future__ import annotations

import sys
import types

import pytest

from edgecodec.edge.config import DaemonConfig
from edgecodec.edge.credentials import expand
from edgecodec.edge.deployment import device_toml
from edgecodec.edge.sources import open_capture, plan_source

SECRET = "pa:ss@w0rd"
URL = "rtsp://admin:${CAM_PASSWORD}@192.0.2.10:554/stream1"


@pytest.fixture
def no_secret(monkeypatch):
    monkeypatch.delenv("CAM_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def test_an_environment_variable(monkeypatch, no_secret):
    monkeypatch.setenv("CAM_PASSWORD", SECRET)
    assert expand(URL) == f"rtsp://admin:{SECRET}@192.0.2.10:554/stream1"
    assert expand("rtsp://192.0.2.10/$CAM_PASSWORD/{x}") == "rtsp://192.0.2.10/$CAM_PASSWORD/{x}"  # only ${NAME}


def test_a_systemd_credential_wins_over_the_environment(monkeypatch, no_secret, tmp_path):
    (tmp_path / "CAM_PASSWORD").write_text(SECRET + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("CAM_PASSWORD", "from the environment")
    assert expand(URL) == f"rtsp://admin:{SECRET}@192.0.2.10:554/stream1"


def test_unset_is_named(no_secret):
    with pytest.raises(ValueError, match=r"^\$\{CAM_PASSWORD\} is not set: no systemd credential CAM_PASSWORD"):
        expand(URL)


class FakeCapture:
    opened_with: list = []

    def __init__(self, target, api):
        FakeCapture.opened_with.append(target)

    def isOpened(self) -> bool:
        return False

    def release(self) -> None:
        pass


def test_the_capture_alone_sees_the_value(monkeypatch, no_secret):
    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(VideoCapture=FakeCapture, CAP_FFMPEG=1900))
    plan = plan_source(URL, gstreamer=False, jetson=False)
    assert plan.target == URL
    with pytest.raises(OSError, match=r"\$\{CAM_PASSWORD\} is not set") as unset:
        open_capture(plan)
    monkeypatch.setenv("CAM_PASSWORD", SECRET)
    with pytest.raises(OSError) as failed:
        open_capture(plan)
    assert FakeCapture.opened_with == [expand(URL)]
    assert SECRET not in str(unset.value) + str(failed.value) and "${CAM_PASSWORD}" in str(failed.value)


@pytest.fixture
def flags(tmp_path) -> list[str]:
    (tmp_path / "token").write_text("ecb_x")
    return ["--server", "https://nvr.example", "--device-id", "gate-1", "--token-file", str(tmp_path / "token"),
            "--spool", str(tmp_path / "spool")]


def test_validate_config_names_an_unset_secret_in_one_line(no_secret, flags, cli, monkeypatch):
    for extra in (["--validate-config"], []):  # at validation and at start, before anything opens
        result = cli("daemon", "--source", URL, *flags, *extra)
        assert result.rc == 1 and result.err_lines == [
            "edgecodec: error: configuration: source: ${CAM_PASSWORD} is not set: no systemd credential "
            "CAM_PASSWORD ($CREDENTIALS_DIRECTORY) and no environment variable CAM_PASSWORD"], result.err
    monkeypatch.setenv("CAM_PASSWORD", SECRET)
    result = cli("daemon", "--source", URL, *flags, "--validate-config")
    assert result.rc == 0 and SECRET not in result.out + result.err


def test_the_rendered_device_toml_keeps_the_reference(no_secret, flags, tmp_path):
    cfg = DaemonConfig(source=URL, server="https://nvr.example", device_id="gate-1", token_file=tmp_path / "token",
                       spool=tmp_path / "spool")
    text = device_toml(cfg, cfg.source, "source as configured")
    assert f'source = "{URL}"' in text
