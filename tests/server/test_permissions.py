"""The data directory is private to the service: directories 0750, files 0640, whatever the umask
the commands start with; --validate-config warns about looser existing permissions."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ENV, Server, http
from nats_harness import frame


@pytest.fixture
def umask_022():
    """The common default umask, under which files would be 0644 and directories 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def token_add(data: Path, name: str, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "edgecodec", "token", "add", name, "--data", str(data), *extra],
                         env=ENV, capture_output=True, text=True, check=True, timeout=120)
    return out.stdout.strip()


def modes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root.parent)): f"{stat.S_IMODE(p.lstat().st_mode):04o}" for p in [root, *root.rglob("*")]}


def test_serve_and_token_create_nothing_the_group_can_write_or_others_read(tmp_path, tiny_ckpt, umask_022):
    data = tmp_path / "data"
    device, viewer = token_add(data, "cam1"), token_add(data, "ops", "--role", "viewer")
    server = Server(data, tiny_ckpt, None, "--decode-workers", "1").start()
    try:
        url = f"{server.url}/api/v1/devices/cam1/frames/0"
        assert http("POST", url, device, frame(tiny_ckpt, 0))[0] == 201
        assert http("GET", url + ".png", viewer)[0] == 200
    finally:
        server.stop()
    found = modes(data)
    suffixes = {Path(p).suffix or Path(p).name for p in found}
    assert {".json", ".sqlite", ".ecb", ".png", "frames", "png"} <= suffixes, found
    assert {p: m for p, m in found.items() if int(m, 8) & 0o027} == {}, found


def test_validate_config_warns_about_loose_permissions(cli, tmp_path):
    data = tmp_path / "data"
    (data / "frames").mkdir(parents=True)
    (data / "tokens.json").write_text('{"version": 1, "tokens": []}')
    for path, mode in ((data, 0o755), (data / "frames", 0o770), (data / "tokens.json", 0o644)):
        path.chmod(mode)
    result = cli("serve", "--data", data, "--validate-config", "--decode-workers", "0")
    assert result.rc == 0 and result.out.strip() == "configuration: valid", result
    assert result.err_lines == [
        f"edgecodec: warning: {data} is mode 0755, open to others: make it 0750 or stricter (chmod g-w,o-rwx)",
        f"edgecodec: warning: {data / 'frames'} is mode 0770, open to group writes: make it 0750 or stricter "
        "(chmod g-w,o-rwx)",
        f"edgecodec: warning: {data / 'tokens.json'} is mode 0644, open to others: make it 0640 or stricter "
        "(chmod g-w,o-rwx)"], result.err
    for path, mode in ((data, 0o750), (data / "frames", 0o700), (data / "tokens.json", 0o600)):
        path.chmod(mode)
    assert cli("serve", "--data", data, "--validate-config", "--decode-workers", "0").err == ""
