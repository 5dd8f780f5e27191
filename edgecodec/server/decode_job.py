"""What a decode worker process does: load the model once, then .ecb file -> cached PNG file.

Failures: ValueError means the frame itself cannot be decoded here (invalid bitstream, a model
this server does not have) and will always recur; anything else (OSError, a stored file that no
longer holds the uploaded bytes, RuntimeError, MemoryError, a crashed process) may not.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import sys
from pathlib import Path

_backend = None
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG), so that
    a server killed with SIGKILL leaves no decode worker behind; exits at once if the parent is gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def init_pool_worker(parent_pid: int, model: str | None, backend: str) -> None:
    """Initializer of the server's decode processes: die with the server, then load the model."""
    die_with_parent(parent_pid)
    init_worker(model, backend)


def identify() -> tuple[int, str]:
    """(process id, loaded model's id) of this worker; also warms it up."""
    return os.getpid(), model_id_hex()


def decode_and_measure(ecb_file: str, png_file: str, sha256: str) -> int:
    """decode_to_png, then this process's peak resident memory in bytes (for recycling)."""
    decode_to_png(ecb_file, png_file, sha256)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def init_worker(model: str | None, backend: str, threads: int = 1) -> None:
    """Load the model once per worker process."""
    global _backend
    import torch

    from ..backends import load_codec

    torch.set_num_threads(threads)
    _backend = load_codec(model, backend)


def model_id_hex() -> str:
    """The loaded model's id (also warms the worker up)."""
    return _backend.model_id.hex()


def decode_to_png(ecb_file: str, png_file: str, sha256: str) -> int:
    """Decode a stored frame (whose bytes must have this SHA-256, else OSError) and write its PNG
    atomically; returns the PNG's size."""
    import torch

    from ..edge.durable import make_dirs, write_durable
    from ..imageio import encode_png

    data = Path(ecb_file).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OSError(f"{ecb_file} does not hold the uploaded frame (SHA-256 mismatch)")
    with torch.inference_mode():
        rgb = _backend.decode(data)
    png = encode_png(rgb)
    make_dirs(Path(png_file).parent)
    write_durable(Path(png_file), png)
    return len(png)
