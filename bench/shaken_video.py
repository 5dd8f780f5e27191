"""A fixed camera's video made handheld: every frame moved by a random shake, as a folder of PNGs.

Where the long-term reference cannot help (the whole picture moves every frame), a stream
must cost no more than coding every frame as a key frame. Make such a video, then compare:

    python bench/shaken_video.py ../shared/data/video/vtest.avi /tmp/shaken --start 400 --frames 40
    edgecodec eval-video /tmp/shaken --out /tmp/eval-shaken

Each frame is shifted by a random walk of up to ±SHAKE pixels and cropped (no black borders).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgecodec.videoio import Frames  # noqa: E402


def shaken(frames, shake: int, seed: int):
    """Yield BGR frames cropped at a random-walk offset within ±shake pixels."""
    rng = np.random.default_rng(seed)
    dy = dx = 0
    for rgb in frames:
        dy = int(np.clip(dy + rng.integers(-3, 4), -shake, shake))
        dx = int(np.clip(dx + rng.integers(-3, 4), -shake, shake))
        h, w = rgb.shape[:2]
        crop = rgb[shake + dy:h - shake + dy, shake + dx:w - shake + dx]
        yield np.ascontiguousarray(crop[:, :, ::-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("out", help="folder to create")
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--frames", type=int, default=40, help="frames to write")
    p.add_argument("--shake", type=int, default=16, help="largest offset in pixels")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    source = Frames(args.video, limit=args.start + args.frames)
    try:
        frames = (f for i, f in enumerate(source) if i >= args.start)
        for i, bgr in enumerate(shaken(frames, args.shake, args.seed)):
            cv2.imwrite(str(out / f"frame_{i:06d}.png"), bgr)
    finally:
        source.close()
    print(f"wrote {args.frames} frames to {out}")


if __name__ == "__main__":
    main()
