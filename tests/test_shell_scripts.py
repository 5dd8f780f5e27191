"""Every shell script the project ships passes shellcheck (installed by `make system-deps`)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from system_tools import require

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for folder in ("devices", "calibration", "export") for p in (ROOT / folder).rglob("*.sh"))


def test_the_project_ships_its_scripts():
    assert {p.name for p in SCRIPTS} >= {"install-jetson.sh", "run-on-site.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_passes(script: Path):
    result = subprocess.run([require("shellcheck"), "--severity=style", str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
