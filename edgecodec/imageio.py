"""Reading images for the encoder and writing files atomically.

``-`` names stdin as an input and stdout as an output. An output that is not a regular file
(a device, a FIFO, a socket, or a link to one) is written in place, never replaced; a link to
a regular file is written through (its target replaced atomically, the link kept)."""
from __future__ import annotations

import io
import os
import stat
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .codec.bitstream import DEFAULT_MAX_PIXELS
from .common.durable import write_durable

MAX_INPUT_BYTES = 1 << 30
RAISE_LIMIT = "--max-pixels raises it; decoders need the same"

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # silent: OpenCV's own stderr lines would break the one-line error rule


class ImageReadError(ValueError):
    """The input is not a readable image."""


# EXIF orientation tag -> the array operation that shows the image upright (as Pillow's exif_transpose)
ORIENTATIONS = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def to_rgb8(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Any OpenCV-decoded array (gray, BGR, BGRA; 8 or 16 bit) -> uint8 RGB (H, W, 3);
    warns when transparency or 16-bit depth is lost."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{name}: unsupported sample type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 4:
        if (img[:, :, 3] != np.iinfo(img.dtype).max).any():
            warnings.warn(f"{name}: transparency dropped (alpha channel ignored)")
        img = img[:, :, :3]
    if img.dtype == np.uint16:
        warnings.warn(f"{name}: 16-bit image reduced to 8 bits")
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ImageReadError(f"{name}: unsupported channel layout {img.shape}")
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, ::-1])


STDIO = "-"


def is_pipe(path: str | Path) -> bool:
    """Whether an input is stdin (``-``, /dev/stdin) or a FIFO: one stream of bytes, not a camera or video."""
    if str(path) in (STDIO, "/dev/stdin"):
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def read_input(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A whole input file (or pipe: ``-`` is stdin) of at most ``limit`` bytes."""
    try:
        if str(path) == STDIO:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory") from None
    if len(data) > limit:
        raise ImageReadError(f"{path}: larger than {limit} bytes")
    return data


def refuse_overwriting(source: str | Path, output: str | Path) -> None:
    """Raise ValueError when ``output`` names the same regular file as ``source`` (it would be destroyed);
    stdin and stdout, or a terminal named twice, are not files to protect."""
    if STDIO in (str(source), str(output)):
        return
    try:
        same = os.path.samefile(source, output) and stat.S_ISREG(os.stat(output).st_mode)
    except OSError:  # either does not exist (yet)
        same = False
    if same:
        raise ValueError(f"{output}: the output would overwrite the input")


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Route file descriptor 2 to /dev/null: libpng and libjpeg print there and OpenCV cannot stop them.
    (Process-wide for the duration: only for the command line's one-image reads.)"""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _probe(data: bytes, name: str, max_pixels: int) -> tuple[int, int, int, bool] | None:
    """(width, height, EXIF orientation, several frames) from the file's header, without decoding pixels;
    None when Pillow does not know the format (OpenCV may still read it)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                _check_pixels(im.width, im.height, max_pixels, name)
                if im.format == "PNG":  # Pillow's getexif() would decode a PNG to look past its pixels
                    exif = Image.Exif()
                    exif.load(im.info.get("exif"))
                else:
                    exif = im.getexif()
                orientation = exif.get(0x0112, 1)
                return (im.width, im.height, orientation if orientation in ORIENTATIONS else 1,
                        bool(getattr(im, "is_animated", False)))
    except ImageReadError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, 2 * MAX_IMAGE_PIXELS
        if max_pixels < 2 * Image.MAX_IMAGE_PIXELS:
            raise ImageReadError(f"{name}: more than {2 * Image.MAX_IMAGE_PIXELS} pixels, over the limit of "
                                 f"{max_pixels} pixels ({RAISE_LIMIT})") from None
        return None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width * height > max_pixels:
        raise ImageReadError(f"{name}: {width}x{height} is over the limit of {max_pixels} pixels ({RAISE_LIMIT})")


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to upright uint8 RGB (EXIF orientation applied; warns when
    transparency, 16-bit depth or later frames are dropped). Images over ``max_pixels`` are refused before their pixels are decoded."""
    data = read_input(path)
    probe = _probe(data, str(path), max_pixels) if data else None
    with _stderr_silenced():
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise ImageReadError(f"{path}: not a readable image")
    _check_pixels(img.shape[1], img.shape[0], max_pixels, str(path))
    if probe is not None and probe[2] != 1:
        img = ORIENTATIONS[probe[2]](img)
    if probe is not None and probe[3]:
        warnings.warn(f"{path}: only the first frame is coded (animated or multi-page image)")
    return to_rgb8(img, str(path))


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and never leave a partial file: ``-`` is stdout; otherwise a user's output
    written crash-safely (a link followed, a device or FIFO written in place: common.durable)."""
    if str(path) == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_durable(path, data, follow=True)


def encode_png(rgb: np.ndarray) -> bytes:
    """uint8 RGB -> PNG bytes."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Atomically write an RGB uint8 image as PNG."""
    write_atomic(path, encode_png(rgb))


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted; FileNotFoundError when the folder does not
    exist or holds none, NotADirectoryError when it is a file."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return files
