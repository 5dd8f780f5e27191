"""Shared fixtures: the model under test and the test images."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import pytest
import torch

from edgecodec.checkpoint import DEFAULT_WEIGHTS, from_checkpoint, init_model, save_checkpoint
from edgecodec.cli.main import main
from edgecodec.codec.models.config import get_config

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
SYSTEM_PATHS = (Path("/var/lib/edgecodec"), Path("/etc/edgecodec"), Path("/opt/edgecodec"))


@contextlib.contextmanager
def single_thread():
    """Tiny models gain nothing from torch's intra-op pool, and on a loaded machine its
    OpenMP spin-waiting turns a 10 ms coding call into seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread():
    """Use with ``pytestmark = pytest.mark.usefixtures("one_thread")`` (set up before the
    module's other fixtures, restored after the module)."""
    with single_thread():
        yield


def save_tiny(path: Path, seed: int) -> str:
    with single_thread():
        save_checkpoint(path, init_model(get_config("dkic-tiny"), seed=seed))
    return str(path)


@pytest.fixture(scope="session")
def starter_model():
    """The packaged starter model, or deterministic initial weights before it exists."""
    if DEFAULT_WEIGHTS.exists():
        return from_checkpoint(DEFAULT_WEIGHTS)
    return init_model(get_config("dkic-small"))


@pytest.fixture(scope="session")
def test_images() -> list[Path]:
    """The Kodak set when the shared data is present, else the bundled samples."""
    folder = KODAK if KODAK.is_dir() else ROOT / "tests" / "data"
    return sorted(folder.glob("*.png"))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> str:
    """Checkpoint of the deterministic untrained dkic-tiny model (seed 0)."""
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny-a.pt", seed=0)


@pytest.fixture(scope="session")
def other_ckpt(tmp_path_factory) -> str:
    """Same configuration, another seed: a different model id."""
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny-b.pt", seed=1)


@dataclasses.dataclass
class CliResult:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@pytest.fixture
def cli(capfd):
    """Run ``edgecodec`` in-process: cli("decode", "x.ecb", "-o", "y.png") -> CliResult.

    Captures the file descriptors, so output of native libraries (OpenCV, torch) counts too."""

    def run(*argv) -> CliResult:
        capfd.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors
            rc = e.code if isinstance(e.code, int) else 1
        out, err = capfd.readouterr()
        return CliResult(rc, out, err)

    return run


def pytest_runtest_setup(item):
    """`gpu` and `tensorrt` tests skip, with the reason, where the hardware or library is absent."""
    if item.get_closest_marker("gpu"):
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA GPU (none on this machine)")
    if item.get_closest_marker("tensorrt"):
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            pytest.skip("needs TensorRT (JetPack's python3-libnvinfer); it cannot be installed on CI machines")


def _system_entries() -> set[Path]:
    """Everything under the paths an installation owns (empty on a clean machine)."""
    found = set()
    for root in SYSTEM_PATHS:
        if os.path.lexists(root):
            found.add(root)
            for folder, dirs, files in os.walk(root):
                found.update(Path(folder, name) for name in dirs + files)
    return found


@pytest.fixture(autouse=True)
def no_system_writes():
    """Tests write only in temporary directories: one that leaves something new under
    /var/lib/edgecodec, /etc/edgecodec or /opt/edgecodec fails (the install script's dry-run
    tests would then take the machine for an installed one and skip)."""
    before = _system_entries()
    yield
    new = sorted(_system_entries() - before)
    if new:
        pytest.fail(f"the test left {', '.join(map(str, new[:5]))} on this machine (tests write only in "
                    "temporary directories)", pytrace=False)
