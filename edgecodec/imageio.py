"""Reading images for the encoder and writing files atomically."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np

MAX_INPUT_BYTES = 1 << 30

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # silent: OpenCV's own stderr lines would break the one-line error rule


class ImageReadError(ValueError):
    """The input is not a readable image."""


def to_rgb8(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Any OpenCV-decoded array (gray, BGR, BGRA; 8 or 16 bit) -> uint8 RGB (H, W, 3)."""
    if img.dtype == np.uint16:
        warnings.warn(f"{name}: 16-bit image reduced to 8 bits")
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageReadError(f"{name}: unsupported sample type {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ImageReadError(f"{name}: unsupported channel layout {img.shape}")
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        warnings.warn(f"{name}: alpha channel dropped")
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1])


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 RGB (warns when alpha or 16-bit depth is dropped)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise ImageReadError(f"{path}: file too large ({size} bytes)")
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory") from None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ImageReadError(f"{path}: not a readable image")
    return to_rgb8(img, str(path))


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to a temporary file beside ``path``, fsync, then rename: never a partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_png(rgb: np.ndarray) -> bytes:
    """uint8 RGB -> PNG bytes."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Atomically write an RGB uint8 image as PNG."""
    write_atomic(path, encode_png(rgb))
