"""The rANS extension under AddressSanitizer and UndefinedBehaviorSanitizer.

Builds ``_rans.c`` again with ``-fsanitize=address,undefined`` and drives it in a child
process (rans_fuzz_child.py) with valid round trips and hostile streams, tables and
indexes: any out-of-bounds access, use after free or undefined behaviour aborts the child.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "edgecodec" / "codec" / "entropy" / "_rans.c"
SANITIZERS = "address,undefined"


def sanitized_build(tmp_path: Path) -> tuple[Path, str]:
    """(module file, ASan runtime to preload); skips where the compiler has no sanitizer runtime."""
    cc = shutil.which(os.environ.get("CC", "gcc"))
    if cc is None:
        pytest.skip("needs gcc (the compiler that builds the extension) for a sanitizer build")
    runtime = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(runtime) or not os.path.exists(runtime):
        pytest.skip(f"{cc} has no AddressSanitizer runtime (libasan)")
    out = tmp_path / ("_rans" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = [cc, "-shared", "-fPIC", "-O1", "-g", "-std=c99", f"-fsanitize={SANITIZERS}",
           "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           f"-I{sysconfig.get_paths()['include']}", str(SOURCE), "-o", str(out)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return out, runtime


@pytest.mark.parametrize("seed", [1, 2])
def test_no_memory_or_undefined_behaviour_errors_on_hostile_input(tmp_path, seed):
    module, runtime = sanitized_build(tmp_path)
    env = dict(os.environ, LD_PRELOAD=runtime, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", OMP_NUM_THREADS="1")
    child = subprocess.run([sys.executable, str(HERE / "rans_fuzz_child.py"), str(module), str(seed), "60"],
                           capture_output=True, text=True, env=env, timeout=600)
    report = child.stderr[-3000:]
    assert "Sanitizer" not in child.stderr and "runtime error" not in child.stderr, report
    assert child.returncode == 0 and child.stdout.strip() == "ok", report
