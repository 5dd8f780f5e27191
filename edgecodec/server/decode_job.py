"""What a decode worker process does: load the model once, then .ecb file -> cached PNG file.

Failures: ValueError means the frame itself cannot be decoded here (invalid bitstream, a model
this server does not have) and will always recur; anything else (OSError, a stored file that no
longer holds the uploaded bytes, RuntimeError, MemoryError, a crashed process) may not.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_backend = None


def init_worker(model: str | None, backend: str, threads: int = 1) -> None:
    """Process-pool initializer: one model per worker process."""
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
