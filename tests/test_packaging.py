"""Dependencies: the server's stack in the [server] extra, the device's in [edge], what both need in the core;
every import of the package covered by what its part installs; the edge commands run without the server's
stack; the ONNX Runtime requirement where DeformConv runs; the LICENSE and the documented server unit."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from system_tools import require
from packaging.markers import default_environment
from packaging.requirements import Requirement

from edgecodec.common.config import read_toml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgecodec"
PROJECT = read_toml(ROOT / "pyproject.toml")["project"]
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PIL": "pillow", "nats": "nats-py", "prometheus_client":
                 "prometheus-client", "onnxconverter_common": "onnxconverter-common"}  # import name -> distribution
SYSTEM = {"tensorrt", "pycuda"}  # JetPack's system packages, never pip's
SERVER_ONLY = {"aiohttp", "nats-py"}


def listed(extra: str | None = None) -> list[Requirement]:
    """The core's requirements and those of ``extra``, whatever their environment markers."""
    extras = PROJECT["optional-dependencies"][extra] if extra else []
    return [Requirement(r) for r in PROJECT["dependencies"] + extras]


def requirements(extra: str | None = None, **environment: str) -> dict[str, Requirement]:
    """The requirements that apply to ``extra`` (None: the core) in an environment (default: this machine's)."""
    env = {**default_environment(), **environment, "extra": extra or ""}
    return {r.name: r for r in listed(extra) if r.marker is None or r.marker.evaluate(env)}


def third_party_imports(path: Path) -> set[str]:
    """Distributions a module imports (at any depth of the file, lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    names -= set(sys.stdlib_module_names) | SYSTEM | {"edgecodec"}
    return {DISTRIBUTIONS.get(n, n) for n in names}


def test_the_core_holds_neither_stack():
    core = set(requirements())
    assert not core & (SERVER_ONLY | {"prometheus-client", "onnxconverter-common"})
    assert {"aiohttp", "nats-py", "prometheus-client"} <= set(requirements("server")) - core
    assert {"prometheus-client", "onnxconverter-common"} <= set(requirements("edge")) - core
    assert not set(requirements("edge")) & SERVER_ONLY
    assert "edgecodec[edge,server,eval]" in PROJECT["optional-dependencies"]["dev"], "make install: everything"


@pytest.mark.parametrize("part,extra", [("server", "server"), ("edge", "edge"), ("export", "edge"),
                                        ("evaluation", "eval"), ("codec", None), ("cli", None), ("train", None),
                                        ("calibration", None)])
def test_every_import_is_installed_by_its_extra(part, extra):
    installed = {r.name for r in listed(extra)}
    for path in sorted((PACKAGE / part).rglob("*.py")):
        if path == PACKAGE / "edge" / "demo.py":  # runs the server too: needs both extras
            continue
        missing = third_party_imports(path) - installed
        assert not missing, f"{path.relative_to(ROOT)} imports {missing}, which [{extra or 'core'}] does not install"


@pytest.mark.parametrize("python,runs_deform_conv", [("3.10", False), ("3.11", True), ("3.12", True)])
def test_onnx_runtime_where_deform_conv_runs(python, runs_deform_conv):
    """1.25 runs DeformConv; Python 3.10 (JetPack 6) has no such wheel, and gets the GridSample export."""
    spec = requirements(python_version=python)["onnxruntime"].specifier
    assert ("1.24.4" in spec) == (not runs_deform_conv) and "1.25.0" in spec
    if not runs_deform_conv:
        assert "1.23.2" in spec  # the newest with a Python 3.10 wheel


BLOCK_SERVER_STACK = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("aiohttp", "nats"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
import edgecodec.edge
for module in pkgutil.iter_modules(edgecodec.edge.__path__):
    importlib.import_module("edgecodec.edge." + module.name)
from edgecodec.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _without_server_stack(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_SERVER_STACK, *map(str, argv)], capture_output=True,
                          text=True, timeout=300)


def test_edge_commands_run_without_the_server_stack(tmp_path):
    (tmp_path / "token").write_text("ecb_x")
    daemon = _without_server_stack("daemon", "--source", "0", "--server", "https://nvr.example", "--device-id",
                                   "gate-1", "--token-file", tmp_path / "token", "--spool", tmp_path / "spool",
                                   "--validate-config")
    assert daemon.returncode == 0 and "valid" in daemon.stdout, daemon.stderr
    serve = _without_server_stack("serve", "--data", tmp_path / "data", "--listen", "127.0.0.1:0")
    assert serve.returncode == 1 and serve.stderr.splitlines() == [
        "edgecodec: error: serve needs aiohttp, which the server extra installs: pip install 'edgecodec[server]'"]


def test_the_server_imports_no_capture_code():
    script = ("import sys, edgecodec.server.app, edgecodec.server.nats_worker; print(' '.join(sorted(m for m in "
              "sys.modules if m.startswith(('edgecodec.edge.', 'edgecodec.videoio')))))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert not set(loaded.stdout.split()) & {"edgecodec.edge.sources", "edgecodec.edge.daemon", "edgecodec.edge.roles",
                                             "edgecodec.edge.uploader", "edgecodec.edge.spool", "edgecodec.videoio"}


LICENSE_HEADINGS = {"Apache-2.0": ("Apache License", "Version 2.0, January 2004")}  # SPDX id -> title lines


def test_the_license_file_is_the_license_pyproject_names():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "Copyright (c) 2026 the edgecodec authors"
    assert tuple(lines[1:3]) == LICENSE_HEADINGS[PROJECT["license"]["text"]]
    assert "END OF TERMS AND CONDITIONS" in text


def server_unit() -> str:
    """The systemd unit docs/server.md gives for the server (the ini block after its `### systemd` heading)."""
    text = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    return text.split("### systemd", 1)[1].split("```ini\n", 1)[1].split("```", 1)[0]


def test_the_documented_server_unit_has_the_daemons_hardening():
    from edgecodec.edge.deployment import HARDENING

    lines = server_unit().splitlines()
    daemon = {line for line in HARDENING if not line.startswith(("#", "RestrictAddressFamilies=", "UMask="))}
    assert daemon - set(lines) == set()
    server = {"Wants=network-online.target", "After=network-online.target", "PrivateDevices=yes",
              "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "ReadWritePaths=/srv/edgecodec", "User=edgecodec"}
    assert server - set(lines) == set()


def test_systemd_accepts_the_documented_server_unit(tmp_path):
    """systemd-analyze verify, with ExecStart pointing at this venv's edgecodec."""
    require("systemd-analyze", "systemd")
    unit = tmp_path / "edgecodec-server.service"
    unit.write_text(server_unit().replace("/opt/edgecodec/venv", str(Path(sys.executable).parent.parent)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
