"""The codec package's public API: every name it states resolves, and the wire format loads without torch."""
from __future__ import annotations

import subprocess
import sys

import edgecodec.codec


def test_every_public_name_resolves():
    for name in edgecodec.codec.__all__:
        assert getattr(edgecodec.codec, name) is not None, name
    assert set(edgecodec.codec.__all__) <= set(dir(edgecodec.codec))


def test_the_package_and_its_wire_format_import_no_torch():
    script = ("import sys, edgecodec.codec, edgecodec.codec.bitstream; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy')))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"
