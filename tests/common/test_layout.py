"""The package's layering, read from the source: the daemon (edge/) and the server (server/) never import each
other nor the command line (cli/); what both need is in common/, which imports neither them nor heavy libraries."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgecodec

ROOT = Path(edgecodec.__file__).parent
FORBIDDEN = {
    "edge": ("edgecodec.server", "edgecodec.cli"),
    "server": ("edgecodec.edge", "edgecodec.cli"),
    "common": ("edgecodec.edge", "edgecodec.server", "edgecodec.cli", "edgecodec.codec", "torch", "cv2", "numpy"),
}


def imported(source: str, package: str) -> set[str]:
    """Absolute names of what a module of ``package`` imports (in functions too): ``from . import x`` gives
    both the package and the module x."""
    parts = package.split(".")
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            full = ".".join(base + ([node.module] if node.module else []))
            names.add(full)
            if node.module is None:
                names.update(f"{full}.{alias.name}" for alias in node.names)
    return names


def violations(folder: str) -> list[str]:
    """'file imports name' for every import the layer ``folder`` may not make."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        package = ".".join(("edgecodec",) + path.parent.relative_to(ROOT).parts)
        for name in sorted(imported(path.read_text(encoding="utf-8"), package)):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[folder]):
                found.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(folder):
    assert (ROOT / folder / "__init__.py").is_file()
    assert violations(folder) == []


def test_relative_and_nested_imports_are_seen():
    source = "import torch\nfrom . import roles\n\n\ndef demo():\n    from ..server.tokens import TokenStore\n"
    assert imported(source, "edgecodec.edge") == {"torch", "edgecodec.edge", "edgecodec.edge.roles",
                                                  "edgecodec.server.tokens"}
    assert imported("from ...cli import doctor\n", "edgecodec.server.sub") == {"edgecodec.cli"}
