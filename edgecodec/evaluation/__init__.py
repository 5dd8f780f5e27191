"""Rate-distortion evaluation: edgecodec against classical codecs and published anchors.

- ``bdrate``: Bjøntegaard delta rate / PSNR (PCHIP, numpy only).
- ``baselines``: JPEG, WebP, AVIF, JPEG XL through ``imagecodecs``.
- ``anchors``: CompressAI's published Kodak curves.
- ``runner``: real-bytes measurement of any codec on a set of images.
- ``plots``: R-D plots and the equal-bpp visual comparison.
- ``images``: `edgecodec eval`: a folder of images, every codec, BD figures, plots, results.json.
- ``compare``: two such runs against each other.
- ``video``: rate-distortion on video from a fixed camera, every codec on the same frames.
- ``ffmpeg``: x264 and x265 through the ``ffmpeg`` command line.

Only the public codec API (``edgecodec.codec.Codec``, ``edgecodec.runtime``)
is used; nothing here depends on the model's internals.
"""
from .bdrate import bd_psnr, bd_rate

__all__ = ["bd_psnr", "bd_rate"]
