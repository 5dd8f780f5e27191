"""devices/install-jetson.sh: shellcheck-clean, and end to end under --dry-run on this non-Jetson machine.

The dry runs put shims first on PATH for every command that changes the system (apt-get,
systemctl, useradd, cmake, install, rm outside the script's temporary directory, ...): a
shim that is called records it, so "nothing was executed" is checked, not assumed.
"""
from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from devices_harness import INSTALL, JETSON_PROFILES, profile_data

from edgecodec.common.config import read_toml

TOKEN = "ecb_dry-run-secret-token"
SYSTEM_PATHS = [Path(p) for p in ("/opt/edgecodec", "/etc/edgecodec", "/var/lib/edgecodec",
                                  "/etc/systemd/system/edgecodec-daemon.service")]
GUARDED = ("apt-get", "systemctl", "useradd", "usermod", "userdel", "cmake", "install", "chown", "python3", "pip")


def _no_system_changes() -> bool:
    try:
        pwd.getpwnam("edgecodec")
        return False
    except KeyError:
        return not any(p.exists() for p in SYSTEM_PATHS)


def _make_sandbox(root: Path) -> tuple[dict, Path, Path]:
    """(env, shim log, temp dir) of dry runs; refuses to run where edgecodec is installed for real."""
    if not _no_system_changes():
        pytest.skip("edgecodec is installed on this machine: the dry-run checks need a clean one")
    shims, temp, log = root / "shims", root / "tmp", root / "executed.log"
    shims.mkdir()
    temp.mkdir()
    for name in GUARDED:
        (shims / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 97\n')
    (shims / "rm").write_text(f'#!/bin/sh\ncase "$*" in *"{temp}/"*) exec {shutil.which("rm")} "$@" ;; esac\n'
                              f'echo "rm $*" >> "{log}"\nexit 97\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "TMPDIR": str(temp), "HOME": str(root),
           "EDGECODEC_PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    return env, log, temp


def _assert_untouched(log: Path, temp: Path) -> None:
    assert not log.exists(), f"the dry run executed: {log.read_text()}"
    assert _no_system_changes() and list(temp.iterdir()) == [], "the dry run left files behind"


@pytest.fixture
def sandbox(tmp_path):
    env, log, temp = _make_sandbox(tmp_path)
    yield env, log, temp
    _assert_untouched(log, temp)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """One install dry run per Jetson profile (each is seconds of Python start-ups)."""
    env, log, temp = _make_sandbox(tmp_path_factory.mktemp("dry-runs"))
    runs = {profile: _install(env, profile) for profile in JETSON_PROFILES}
    _assert_untouched(log, temp)
    return runs


def _script(env: dict, *args: str, stdin: str = TOKEN + "\n") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], input=stdin, env=env, capture_output=True, text=True,
                          timeout=300)


def _install(env: dict, profile: str, *extra: str, stdin: str = TOKEN + "\n") -> subprocess.CompletedProcess:
    jetpack = profile_data(profile)["device"]["jetpack"][-1]
    return _script(env, "--dry-run", "--profile", profile, "--server", "https://nvr.example.org",
                   "--device-id", "gate-1", "--assume-jetpack", jetpack, *extra, stdin=stdin)


def _planned(result: subprocess.CompletedProcess) -> list[str]:
    return [line[2:].strip() for line in result.stdout.splitlines() if line.startswith("+ ")]


def _index(planned: list[str], pattern: str) -> int:
    matches = [i for i, line in enumerate(planned) if re.search(pattern, line)]
    assert matches, f"no planned action matches {pattern!r}:\n" + "\n".join(planned)
    return matches[0]


@pytest.mark.parametrize("profile", JETSON_PROFILES)
def test_dry_run_plans_the_whole_install_in_order(profile, dry_runs):
    result = dry_runs[profile]
    assert result.returncode == 0, result.stderr
    device = profile_data(profile)["device"]
    arch = device["compute_capability"].replace(".", "")
    precision = "fp16" if device["precision"] == "int8" else device["precision"]  # int8 waits for a QAT model
    planned = _planned(result)
    order = [_index(planned, r"^python3 -m venv --system-site-packages /opt/edgecodec/venv$"),
             _index(planned, r"^/opt/edgecodec/venv/bin/pip uninstall -y opencv-python-headless"),
             _index(planned, rf"^cmake -S \S+/export/plugins/modulated_deform_sampling .*"
                             rf"-DCMAKE_CUDA_ARCHITECTURES={arch} -DEDGECODEC_CUDA_ARCHITECTURES={arch}$"),
             _index(planned, rf"^/opt/edgecodec/venv/bin/edgecodec export trt --out /var/lib/edgecodec/engines "
                             rf"--precision {precision} --resolution {device['resolution']} --plugin "),
             _index(planned, r"^useradd --system .* edgecodec$"),
             _index(planned, r"^install -m 0600 -o root -g root \S+/token /etc/edgecodec/token$"),
             _index(planned, r"^install -m 0644 -o root -g root \S+ /etc/systemd/system/edgecodec-daemon.service$"),
             _index(planned, r"^systemctl daemon-reload$"),
             _index(planned, r"^systemctl enable --now edgecodec-daemon.service$"),
             _index(planned, r"^/opt/edgecodec/venv/bin/edgecodec doctor --config /etc/edgecodec/device.toml "
                             r"--wait-for-daemon 120$")]
    assert order == sorted(order)
    assert "usermod -a -G video edgecodec" in planned and TOKEN not in result.stdout + result.stderr


def test_dry_run_shows_the_rendered_config_and_unit(dry_runs):
    out = dry_runs["orin-nano-8gb"].stdout
    unit = out.split("--- /etc/systemd/system/edgecodec-daemon.service\n", 1)[1].split("\n---\n", 1)[0]
    assert "LoadCredential=token:/etc/edgecodec/token" in unit and "User=edgecodec" in unit
    config = out.split("--- /etc/edgecodec/device.toml\n", 1)[1].split("\n---\n", 1)[0]
    assert 'device_id = "gate-1"' in config and 'server = "https://nvr.example.org"' in config
    assert re.search(r'^source = "(nvarguscamerasrc .*|/dev/video0)"$', config, re.M)  # fallback off a Jetson
    assert "install -m 0640 -o root -g edgecodec" in out


def test_int8_engines_with_a_calibrated_model(sandbox, tmp_path):
    env, _, _ = sandbox
    model = tmp_path / "encoder-int8.pt"
    model.write_bytes(b"stand-in")
    result = _install(env, "orin-nano-8gb", "--model", str(model), "--token-file", str(tmp_path / "tok"))
    assert result.returncode == 1 and "cannot read" in result.stderr  # --token-file is read first
    (tmp_path / "tok").write_text(TOKEN)
    planned = _planned(_install(env, "orin-nano-8gb", "--model", str(model), "--token-file", str(tmp_path / "tok")))
    _index(planned, r"export trt .* --precision int8 .* --model /opt/edgecodec/models/encoder-int8.pt$")


def test_the_venv_gets_the_edge_extra_and_numpy_1_on_jetpack(dry_runs):
    """pip installs the checkout with [edge]; its requirements on a Jetson (aarch64; Python 3.10 on JetPack 6,
    3.12 on JetPack 7) keep NumPy below 2, which JetPack's cv2 and torch need; then both are imported."""
    planned = _planned(dry_runs["orin-nano-8gb"])
    install = _index(planned, r"^/opt/edgecodec/venv/bin/pip install \S+\\\[edge\\\]$")
    check = _index(planned, r"^/opt/edgecodec/venv/bin/python -c import\\ cv2\\,\\ numpy\\,\\ torch\\;")
    assert install < _index(planned, r"^/opt/edgecodec/venv/bin/pip uninstall -y opencv-python-headless") < check
    project = Path(shlex.split(planned[install])[-1].removesuffix("[edge]"))
    data = read_toml(project / "pyproject.toml")["project"]
    for python in ("3.10", "3.12"):
        env = {**default_environment(), "platform_machine": "aarch64", "python_version": python, "extra": "edge"}
        wanted = [Requirement(r) for r in data["dependencies"] + data["optional-dependencies"]["edge"]]
        applying = {r.name: r.specifier for r in wanted if r.marker is None or r.marker.evaluate(env)}
        assert "1.26.4" in applying["numpy"] and "2.0.0" not in applying["numpy"]
        assert "aiohttp" not in applying


def test_dry_run_without_a_qat_model_builds_fp16_and_says_why(dry_runs):
    assert "int8 needs a QAT or calibrated checkpoint" in dry_runs["orin-nano-8gb"].stdout


@pytest.mark.parametrize("args,needle", [
    (("--profile", "orin-nano-8gb", "--assume-jetpack", "5.1.3"), "JetPack 5.1.3 is not supported"),
    (("--profile", "orin-nano-8gb", "--assume-jetpack", "6.0"), "JetPack 6.0 is not supported"),
    (("--profile", "agx-thor", "--assume-jetpack", "6.2"), "does not match profile agx-thor"),
    (("--profile", "orin-nx-16gb", "--assume-jetpack", "7.0"), "does not match profile orin-nx-16gb"),
    (("--profile", "x86-dev", "--assume-jetpack", "6.2"), "not a Jetson profile"),
    (("--profile", "no-such-board", "--assume-jetpack", "6.2"), "no profile devices/no-such-board.toml"),
    (("--profile", "orin-nano-8gb",), "--profile, --server and --device-id are required"),
])
def test_refusals_are_one_clear_line(args, needle, sandbox):
    env, _, _ = sandbox
    full = [*args, "--server", "https://nvr.example.org", "--device-id", "gate-1"] if "required" not in needle else args
    result = _script(env, "--dry-run", *full)
    errors = [line for line in result.stderr.splitlines() if line.startswith("install-jetson: error:")]
    assert result.returncode == 1 and len(errors) == 1 and needle in errors[0], result.stderr


def test_missing_token_and_unknown_flags_are_refused(sandbox):
    env, _, _ = sandbox
    assert "no token" in _install(env, "orin-nano-8gb", stdin="").stderr
    assert "unknown argument --colour" in _script(env, "--dry-run", "--colour").stderr
    no_edgecodec = _install({**env, "EDGECODEC_PYTHON": "/bin/false"}, "orin-nano-8gb")
    assert no_edgecodec.returncode == 1 and "set EDGECODEC_PYTHON" in no_edgecodec.stderr


RELEASE = "# R{}, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n"


@pytest.mark.parametrize("dpkg,release,verdict", [
    ("6.2.1+b38", None, "JetPack 6.2.1"),  # nvidia-jetpack's version wins
    ("7.0+b128", None, "does not match profile orin-nx-16gb"),
    (None, "36 (release), REVISION: 4.3", "JetPack 6.2"),  # else L4T 36.4.3
    (None, "36 (release), REVISION: 4.0", "JetPack 6.1"),
    (None, "36 (release), REVISION: 3.0", "JetPack 6.0 is not supported"),
    (None, "35 (release), REVISION: 4.1", "JetPack 5 is not supported"),
    (None, "38 (release), REVISION: 2.0", "does not match profile orin-nx-16gb"),  # JetPack 7.x
])
def test_jetpack_detection(dpkg, release, verdict, sandbox, tmp_path):
    """Without --assume-jetpack: `dpkg-query -W nvidia-jetpack`, else /etc/nv_tegra_release."""
    env, _, _ = sandbox
    shim = Path(env["PATH"].split(":")[0]) / "dpkg-query"
    shim.write_text(f"#!/bin/sh\necho -n '{dpkg}'\n" if dpkg else "#!/bin/sh\nexit 1\n")
    shim.chmod(0o755)
    (tmp_path / "nv_tegra_release").write_text(RELEASE.format(release) if release else "")
    env = {**env, "NV_TEGRA_RELEASE": str(tmp_path / "nv_tegra_release")}
    result = _script(env, "--dry-run", "--profile", "orin-nx-16gb", "--server", "https://nvr.example.org",
                     "--device-id", "gate-1")
    assert verdict in result.stdout + result.stderr
    assert result.returncode == (0 if verdict.startswith("JetPack 6.") and "not" not in verdict else 1)


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists(), reason="this machine is a Jetson")
def test_off_a_jetson_the_dry_run_reports_the_missing_jetpack(sandbox):
    env, _, _ = sandbox
    result = _script(env, "--dry-run", "--profile", "orin-nx-16gb", "--server", "https://nvr.example.org",
                     "--device-id", "gate-1")
    assert result.returncode == 0 and "JetPack: not detected (not a Jetson); a real install stops here" in result.stdout


@pytest.mark.parametrize("purge", [False, True])
def test_uninstall_dry_run_keeps_the_spool_unless_purged(purge, sandbox):
    env, _, _ = sandbox
    result = _script(env, "--dry-run", "--uninstall", *(["--purge"] if purge else []), stdin="")
    assert result.returncode == 0, result.stderr
    planned = _planned(result)
    assert planned[:4] == ["systemctl disable --now edgecodec-daemon.service",
                           "rm -f /etc/systemd/system/edgecodec-daemon.service", "systemctl daemon-reload",
                           "rm -rf /opt/edgecodec /etc/edgecodec /var/lib/edgecodec/engines"]
    assert "userdel edgecodec" in planned
    assert ("rm -rf /var/lib/edgecodec/spool /var/lib/edgecodec" in planned) == purge
    assert ("kept /var/lib/edgecodec/spool" in result.stdout) != purge


def _nvcc() -> str | None:
    return shutil.which("nvcc") or next((str(p) for p in [Path("/usr/local/cuda/bin/nvcc")] if p.exists()), None)


@pytest.mark.skipif(_nvcc() is None or not os.environ.get("TensorRT_ROOT"),
                    reason="needs nvcc and TensorRT headers (TensorRT_ROOT, as tests/export)")
def test_the_planned_cmake_commands_build_the_plugin(dry_runs, tmp_path):
    """The installer's own CMake lines for Orin (sm_87), with this machine's nvcc and TensorRT headers."""
    planned = _planned(dry_runs["orin-nano-8gb"])
    build = tmp_path / "build"
    for line in (step for step in planned if step.startswith("cmake ")):
        argv = line.replace("/opt/edgecodec/build/trt_plugins", str(build)).split()
        argv = [f"-DCMAKE_CUDA_COMPILER={_nvcc()}" if a.startswith("-DCMAKE_CUDA_COMPILER=") else a for a in argv]
        if "-S" in argv:
            argv.append(f"-DTensorRT_ROOT={os.environ['TensorRT_ROOT']}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "-S" not in argv or "architectures 87" in done.stdout
    assert (build / "libedgecodec_trt_plugins.so").stat().st_size > 0
