"""A second photo set for rate-distortion: Debian's free desktop photographs, 768 px on the long side.

The intra model has been measured on Kodak only; this makes a set it never trained on (training
photos: BSDS432), with a clear licence, from Debian's packages (the only images this machine
can fetch). `apt-get download` brings the two packages into a temporary folder, `dpkg-deb -x`
extracts them, and each chosen photograph (PHOTOS below: drawn or rendered art, gradients and
logos were left out by looking at every picture) is taken at its largest size, turned upright
(EXIF), converted to RGB and downsampled with Pillow's Lanczos filter (which widens its support
when it shrinks, so it averages like an area filter) so that its long side is --long-side
pixels, keeping the aspect ratio (sizes are generally not multiples of 64). Writes
OUT_DIR/NAME.png and OUT_DIR/SOURCES.txt (package, version, original path and size, licence
and author of every file). Usage:

    python bench/photo_set.py runs/photos-debian [--long-side 768]
    edgecodec eval runs/photos-debian --baselines jpeg webp avif --out runs/eval/photos-debian --threads 1

Everything is written into a hidden folder beside OUT_DIR, renamed to OUT_DIR at the end, so a
failed run leaves neither half-written PNGs nor a partial set. Refuses an OUT_DIR that exists
and is not empty. Needs apt-get and dpkg-deb (Debian), and root or an apt that may download.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

DEFAULT_LONG_SIDE = 768
MATE = "mate-backgrounds"
PLASMA = "plasma-workspace-wallpapers"
PACKAGES = (MATE, PLASMA)
MATE_DIR = "usr/share/backgrounds/mate/nature"
PLASMA_DIR = "usr/share/wallpapers"
# Debian's copyright file puts the whole of plasma-workspace-wallpapers under GPL-2+; each
# wallpaper's own metadata.json names LGPL-3 for every photograph chosen here.
PLASMA_LICENCE = "LGPL-3 (the wallpaper's metadata.json; debian/copyright: GPL-2+)"


@dataclass(frozen=True)
class Photo:
    """One chosen photograph: output name, package, where it lies in the package, licence, author."""

    name: str
    package: str
    location: str  # a file (MATE) or a wallpaper folder whose contents/images holds WxH sizes (Plasma)
    licence: str
    author: str


def _mate(name: str, author: str) -> Photo:
    return Photo(name, MATE, f"{MATE_DIR}/{name}.jpg", "GPL-2+ (debian/copyright)", author)


def _plasma(name: str, author: str) -> Photo:
    return Photo(name, PLASMA, f"{PLASMA_DIR}/{name}", PLASMA_LICENCE, author)


# Every photograph of mate-backgrounds' nature/ folder, and the photographs among the Plasma
# wallpapers (most carry a camera's EXIF; EveningGlow, Grey and summer_1am were judged by eye).
# Left out as drawn or rendered: Altai, Autumn, Canopee, Cascade, Cluster, Elarun, Flow,
# FlyingKonqui, Honeywave, IceCold, Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak,
# SafeLanding, Shell, Volna.
PHOTOS: tuple[Photo, ...] = (
    _mate("Aqua", "Charles Barbin"),
    _mate("Blinds", "Lennart Poettering, Andrea Cimitan"),
    _mate("Dune", "Marco Cogoni, Hylke Bons"),
    _mate("FreshFlower", "Jens Ansorg"),
    _mate("Garden", "Charles Barbin"),
    _mate("GreenMeadow", "Timothy Schellhase, Lapo Calamandrei"),
    _mate("LadyBird", "Charles Barbin"),
    _mate("RainDrops", "blackcombwhistler07"),
    _mate("Storm", "Sergey Nazarov"),
    _mate("TwoWings", "Charles Barbin, Hylke Bons"),
    _mate("Wood", "Jean-François Fortin Tam"),
    _mate("YellowFlower", "Charles Barbin"),
    _plasma("BytheWater", "Maciej Wiklo"),
    _plasma("ColdRipple", "Risto Saukonpää"),
    _plasma("ColorfulCups", "Dmitri Popov"),
    _plasma("DarkestHour", "Risto Saukonpää"),
    _plasma("EveningGlow", "Ian Hex"),
    _plasma("FallenLeaf", "Martin Klapetek"),
    _plasma("Grey", "Sigi Sagi"),
    _plasma("Kite", "Risto Saukonpää"),
    _plasma("OneStandsOut", "Risto Saukonpää"),
    _plasma("Path", "Risto Saukonpää"),
    _plasma("summer_1am", "Risto Saukonpää"),
)

_SIZE_NAME = re.compile(r"^(\d+)x(\d+)\.(jpe?g|png)$", re.IGNORECASE)


class PhotoSetError(Exception):
    """Bad input or a failed step; main prints it as one line and exits non-zero."""


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) scaled so the long side is long_side, aspect kept (rounded, at least 1).
    Never enlarges: a picture already no larger keeps its size."""
    if width < 1 or height < 1 or long_side < 1:
        raise ValueError(f"sizes must be positive: {width}x{height}, long side {long_side}")
    scale = min(1.0, long_side / max(width, height))
    if scale == 1.0:
        return width, height
    if width >= height:
        return long_side, max(1, round(height * scale))
    return max(1, round(width * scale)), long_side


def downsample(image: Image.Image, long_side: int) -> Image.Image:
    """The picture upright (EXIF orientation), in 8-bit RGB, long side at most long_side."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        raise PhotoSetError("has transparency; a photograph is expected")
    image = image.convert("RGB")
    size = target_size(image.width, image.height, long_side)
    if size == image.size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS)


def largest_size(folder: Path) -> Path:
    """The largest of a wallpaper's WxH.jpg / WxH.png files (by pixel count, then width)."""
    sizes = []
    for p in folder.iterdir() if folder.is_dir() else ():
        m = _SIZE_NAME.match(p.name)
        if m and p.is_file():
            w, h = int(m.group(1)), int(m.group(2))
            sizes.append((w * h, w, p))
    if not sizes:
        raise PhotoSetError(f"{folder}: no WxH.jpg or WxH.png image")
    return max(sizes)[2]


def source_file(root: Path, photo: Photo) -> Path:
    """The original file of a photo in the extracted packages (root: the dpkg-deb -x folder)."""
    where = root / photo.location
    if photo.package == PLASMA:
        return largest_size(where / "contents" / "images")
    if not where.is_file():
        raise PhotoSetError(f"{photo.package} has no {photo.location}")
    return where


def check_out_dir(out: Path) -> None:
    """Refuse an OUT_DIR that is a file or a folder that is not empty."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise PhotoSetError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise PhotoSetError(f"{out}: exists and is not empty")


def _run(cmd: list[str], cwd: Path) -> str:
    """Run a command; its stdout, or a PhotoSetError with the last line it printed."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise PhotoSetError(f"{cmd[0]} not found (a Debian system is needed)") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise PhotoSetError(f"{' '.join(cmd[:2])} failed: {last}")
    return done.stdout


def fetch_packages(work: Path) -> tuple[Path, dict[str, str]]:
    """apt-get download both packages into work, extract them into work/root; (root, versions)."""
    _run(["apt-get", "download", *PACKAGES], work)
    root = work / "root"
    root.mkdir()
    versions = {}
    for package in PACKAGES:
        debs = sorted(work.glob(f"{package}_*.deb"))
        if len(debs) != 1:
            raise PhotoSetError(f"apt-get download left {len(debs)} files for {package}")
        versions[package] = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], work).strip()
        _run(["dpkg-deb", "-x", str(debs[0]), str(root)], work)
    return root, versions


def source_line(photo: Photo, version: str, original: str, original_size: tuple[int, int],
                size: tuple[int, int]) -> str:
    """One tab-separated SOURCES.txt row (columns: SOURCES_HEADER)."""
    return "\t".join([f"{photo.name}.png", photo.package, version, "/" + original,
                      f"{original_size[0]}x{original_size[1]}", f"{size[0]}x{size[1]}",
                      photo.licence, photo.author])


SOURCES_HEADER = "file\tpackage\tversion\toriginal path\toriginal size\tsize\tlicence\tauthor"


def make_set(root: Path, versions: dict[str, str], stage: Path, long_side: int) -> list[str]:
    """Write every photo as stage/NAME.png; the SOURCES.txt rows."""
    rows = []
    for photo in PHOTOS:
        src = source_file(root, photo)
        try:
            with Image.open(src) as im:
                original_size = ImageOps.exif_transpose(im).size
                out = downsample(im, long_side)
        except PhotoSetError as e:
            raise PhotoSetError(f"{src.relative_to(root)}: {e}") from None
        except (OSError, Image.DecompressionBombError) as e:
            raise PhotoSetError(f"{src.relative_to(root)}: cannot read ({e})") from None
        out.save(stage / f"{photo.name}.png", format="PNG")
        rows.append(source_line(photo, versions[photo.package], str(src.relative_to(root)),
                                original_size, out.size))
        print(f"{photo.name}.png  {out.width}x{out.height}  from {photo.package} "
              f"/{src.relative_to(root)} ({original_size[0]}x{original_size[1]})")
    return rows


def build(out: Path, long_side: int) -> int:
    """Make the set in a hidden folder beside out, then rename it to out; the number of photos."""
    check_out_dir(out)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        with tempfile.TemporaryDirectory(prefix="photo_set.") as tmp:
            work = Path(tmp)
            root, versions = fetch_packages(work)
            rows = make_set(root, versions, stage, long_side)
        packages = ", ".join(f"{p} {versions[p]}" for p in PACKAGES)
        (stage / "SOURCES.txt").write_text(
            f"# bench/photo_set.py --long-side {long_side}: photographs from Debian packages "
            f"({packages}), downsampled (Lanczos) to a long side of {long_side} px, RGB PNG.\n"
            f"{SOURCES_HEADER}\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
        check_out_dir(out)  # nobody filled it meanwhile
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the set is not
        if out.is_dir():
            out.rmdir()
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", metavar="OUT_DIR", help="folder to create (must not exist or be empty)")
    ap.add_argument("--long-side", type=int, default=DEFAULT_LONG_SIDE,
                    help=f"long side of every picture in pixels (default {DEFAULT_LONG_SIDE})")
    args = ap.parse_args(argv)
    if args.long_side < 16:
        print(f"photo_set: --long-side must be at least 16, got {args.long_side}", file=sys.stderr)
        return 2
    try:
        n = build(Path(args.out_dir), args.long_side)
    except PhotoSetError as e:
        print(f"photo_set: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"photo_set: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("photo_set: interrupted; nothing written", file=sys.stderr)
        return 130
    print(f"{n} photographs in {args.out_dir} (sources: {Path(args.out_dir) / 'SOURCES.txt'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
