"""The package's layering, read from the source (docs/DESIGN.md section 1): each package imports only the packages
it may; the codec imports nothing of edgecodec outside it and no I/O library; the daemon (edge/) and the server
(server/) never import each other nor the command line (cli/); what both need is in common/, which imports none of
them nor heavy libraries; and no two modules import each other, even for type checking only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgecodec

ROOT = Path(edgecodec.__file__).parent
MODULES = ("checkpoint", "errors", "imageio", "quality", "videoio")  # the top-level modules
# What each package may import of edgecodec (besides itself); cli/ may import everything.
MAY_IMPORT = {
    "codec": (),
    "common": (),
    "export": ("codec", "imageio"),
    "runtime": ("codec", "checkpoint", "export", "imageio"),
    "train": ("codec", "checkpoint", "imageio", "quality", "videoio"),
    "evaluation": ("codec", "runtime", "imageio", "quality", "videoio"),
    "edge": ("codec", "common", "runtime", "imageio"),
    "server": ("codec", "common", "runtime", "imageio", "errors"),
    "calibration": ("codec", "common", "runtime", "edge", "evaluation", "export", "train", *MODULES),
}
LIBRARIES = {  # libraries a package may not import
    "codec": ("cv2", "PIL", "socket", "http", "urllib", "aiohttp", "nats", "subprocess"),
    "common": ("torch", "cv2", "numpy"),
}


def imported(source: str, package: str, nested: bool = True) -> set[str]:
    """Absolute names of what a module of ``package`` imports (in functions too): ``from . import x`` gives
    both the package and the module x. With ``nested`` False, only the module-level imports (its top level
    and top-level ``if`` blocks, ``if TYPE_CHECKING:`` included): those that tie two modules together."""
    parts = package.split(".")
    tree = ast.parse(source)
    nodes = ast.walk(tree) if nested else [
        n for top in tree.body for n in ([top] if not isinstance(top, ast.If) else top.body)]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            full = ".".join(base + ([node.module] if node.module else []))
            names.add(full)
            if node.module is None:
                names.update(f"{full}.{alias.name}" for alias in node.names)
    return names


def _package(path: Path) -> str:
    return ".".join(("edgecodec",) + path.parent.relative_to(ROOT).parts)


def _allowed(folder: str, name: str) -> bool:
    if not name.startswith("edgecodec."):
        return not any(name == lib or name.startswith(lib + ".") for lib in LIBRARIES.get(folder, ()))
    return name.split(".")[1] in (folder, *MAY_IMPORT[folder])


def violations(folder: str) -> list[str]:
    """'file imports name' for every import the package ``folder`` may not make."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in sorted(imported(path.read_text(encoding="utf-8"), _package(path))):
            if name != "edgecodec" and not _allowed(folder, name):
                found.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    return found


def test_every_package_has_its_rule_and_its_line_in_the_readme():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"cli"} == set(MAY_IMPORT)
    assert {p.stem for p in ROOT.glob("*.py")} - {"__init__", "__main__"} == set(MODULES)
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    assert [name for name in sorted(packages) if f"| `edgecodec/{name}/` |" not in readme] == []


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_each_package_imports_only_what_it_may(folder):
    assert violations(folder) == []


def _module(path: Path) -> str:
    parts = ("edgecodec",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles() -> list[list[str]]:
    """Modules importing each other when they load (``from . import sub`` counts as importing sub only)."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = imported(path.read_text(encoding="utf-8"), package, nested=False)
        graph[name] = {m for m in found if m in modules and m != name
                       and not (m == package and any(f.startswith(m + ".") for f in found))}
    state, path, found = {}, [], []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it():
    assert cycles() == []


def test_relative_nested_and_type_checking_imports_are_seen():
    source = ("import torch\nfrom typing import TYPE_CHECKING\nfrom . import roles\nif TYPE_CHECKING:\n"
              "    from .config import DaemonConfig\n\n\ndef demo():\n    from ..server.tokens import TokenStore\n")
    assert imported(source, "edgecodec.edge") == {"torch", "typing", "edgecodec.edge", "edgecodec.edge.roles",
                                                  "edgecodec.edge.config", "edgecodec.server.tokens"}
    assert imported(source, "edgecodec.edge", nested=False) == {
        "torch", "typing", "edgecodec.edge", "edgecodec.edge.roles", "edgecodec.edge.config"}
    assert imported("from ...cli import doctor\n", "edgecodec.server.sub") == {"edgecodec.cli"}
    assert not _allowed("edge", "edgecodec.server.tokens") and not _allowed("codec", "edgecodec.imageio")
    assert not _allowed("codec", "cv2") and _allowed("codec", "torch.nn")
