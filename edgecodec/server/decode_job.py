"""What a decode worker process does: load the model once, then .ecb file -> cached PNG file."""
from __future__ import annotations

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


def decode_to_png(ecb_file: str, png_file: str) -> int:
    """Decode a stored frame and write its PNG atomically; returns the PNG's size. Raises ValueError."""
    import torch

    from ..edge.durable import make_dirs, write_durable
    from ..imageio import encode_png

    data = Path(ecb_file).read_bytes()
    with torch.inference_mode():
        rgb = _backend.decode(data)
    png = encode_png(rgb)
    make_dirs(Path(png_file).parent)
    write_durable(Path(png_file), png)
    return len(png)
