"""What a decode worker process does: load the model once, then .ecb file -> cached PNG file.

A delta frame decodes from its chain: the frames back to its key frame (at most
MAX_REFERENCE_DEPTH = 16 delta frames), each frame's latent decoded from the one before it.
Each worker keeps the latents of the frames it decoded last, chain links included, by the
SHA-256 of their files (an entropy decode each, no synthesis; REFERENCE_CACHE_PIXELS in all),
and decodes a chain only from its newest cached link on: playing a stream in order costs one
entropy decode a frame, and any frame decodes from at most itself and its chain (random access).

Failures: ValueError means the frame itself cannot be decoded here (invalid bitstream, a model
this server does not have, a reference that is not the one it was coded against, a frame of its
chain that does not decode) and will always recur; anything else (OSError, a stored file that no
longer holds the uploaded bytes, RuntimeError, MemoryError, a crashed process) may not.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import sys
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from ..codec.bitstream import DEFAULT_MAX_PIXELS

_backend = None
_references: OrderedDict = OrderedDict()  # SHA-256 of a frame's bytes -> codec.Reference
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
REFERENCE_CACHE_PIXELS = 1 << 24  # frames whose latents a worker keeps (16.7 MP: about 50 MB)


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


def decode_and_measure(ecb_file: str, png_file: str, sha256: str, chain: Sequence[tuple[str, str]] = (),
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """decode_to_png, then this process's peak resident memory in bytes (for recycling)."""
    decode_to_png(ecb_file, png_file, sha256, chain, max_pixels)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def init_worker(model: str | None, backend: str, threads: int = 1) -> None:
    """Load the model once per worker process."""
    global _backend
    import torch

    from ..runtime import load_codec

    torch.set_num_threads(threads)
    _backend = load_codec(model, backend)


def model_id_hex() -> str:
    """The loaded model's id (also warms the worker up)."""
    return _backend.model_id.hex()


def _verified(ecb_file: str, sha256: str) -> bytes:
    data = Path(ecb_file).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OSError(f"{ecb_file} does not hold the uploaded frame (SHA-256 mismatch)")
    return data


def _reference(sha256: str, data: Callable[[], bytes], previous, max_pixels: int):
    """A frame's reference (latent) from the cache, else an entropy decode of ``data()`` against ``previous``
    (its own reference; None for a key frame) that fills it (a cached frame is neither read nor hashed again)."""
    ref = _references.get(sha256)
    if ref is None:
        ref = _references[sha256] = _backend.reference(data(), previous, max_pixels)
        while sum(r.width * r.height for r in _references.values()) > REFERENCE_CACHE_PIXELS and len(_references) > 1:
            _references.popitem(last=False)
    _references.move_to_end(sha256)
    return ref


def _last_reference(links: list[tuple[str, Callable[[], bytes]]], max_pixels: int):
    """The reference of the last of ``links`` ((SHA-256, bytes) of a frame and of the frames it decodes
    from, its key frame first), decoding them in turn from the newest cached one on."""
    start = max((i for i, (sha256, _) in enumerate(links) if sha256 in _references), default=0)
    ref = None
    for sha256, data in links[start:]:
        ref = _reference(sha256, data, ref, max_pixels)
    return ref


def decode_to_png(ecb_file: str, png_file: str, sha256: str, chain: Sequence[tuple[str, str]] = (),
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Decode a stored frame (whose bytes must have this SHA-256, else OSError) and write its PNG
    atomically; returns the PNG's size. A delta frame needs ``chain``: the (file, SHA-256) of each
    frame it decodes from, its key frame first and its own reference last."""
    import torch

    from ..common.durable import make_dirs, write_durable
    from ..imageio import encode_png

    data = _verified(ecb_file, sha256)
    links = [(link_sha256, partial(_verified, link_file, link_sha256)) for link_file, link_sha256 in chain]
    with torch.inference_mode():
        rgb = _backend.decode_reference(_last_reference([*links, (sha256, lambda: data)], max_pixels))
    png = encode_png(rgb)
    make_dirs(Path(png_file).parent)
    write_durable(Path(png_file), png)
    return len(png)
