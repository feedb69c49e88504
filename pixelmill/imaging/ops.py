"""Builders of validated op steps: `ops.thumbnail(512)`, `ops.save(format="webp")`.

Each returns the same `Step` as `Step.from_data` would for the equivalent
config, and raises `ConfigError` for a bad parameter. The work itself is done
by the op registered under the same name (see `steps.op_def`).
"""

from __future__ import annotations

from typing import Any

from pixelmill.imaging import _builtin_ops  # noqa: F401 - registers the ops built here
from pixelmill.imaging.steps import Step

__all__ = [
    "autocontrast",
    "blur",
    "convert",
    "crop",
    "grayscale",
    "resize",
    "rotate",
    "save",
    "sharpen",
    "thumbnail",
]


def _op(name: str, **params: Any) -> Step:
    return Step.from_data({"op": name, **params}, kind="op")


def thumbnail(size: int | tuple[int, int], *, resample: str = "lanczos") -> Step:
    """Fit within `size` x `size` (or a (width, height) box) keeping the aspect.

    Never enlarges. As the first op, it lets JPEG decode at a reduced scale.
    `resample` is one of nearest, box, bilinear, hamming, bicubic, lanczos.
    """
    return _op("thumbnail", size=size, resample=resample)


def resize(width: int, height: int, *, resample: str = "lanczos") -> Step:
    """Resize to exactly `width` x `height`, whatever the aspect."""
    return _op("resize", width=width, height=height, resample=resample)


def crop(left: int, top: int, right: int, bottom: int) -> Step:
    """Keep the box `left <= x < right`, `top <= y < bottom`, clipped to the image.

    An image the box misses entirely fails with `UnsupportedImageError`.
    """
    return _op("crop", left=left, top=top, right=right, bottom=bottom)


def rotate(degrees: float, *, expand: bool = True) -> Step:
    """Rotate counter-clockwise; `expand` grows the canvas to hold the whole image.

    Uncovered corners are black, or transparent in an image with alpha.
    """
    return _op("rotate", degrees=degrees, expand=expand)


def grayscale() -> Step:
    """Convert to 8-bit grey (ITU-R 601-2 luma), keeping alpha if there is any."""
    return _op("grayscale")


def autocontrast(cutoff: float = 0) -> Step:
    """Stretch each channel to 0..255, ignoring `cutoff` percent at each end."""
    return _op("autocontrast", cutoff=cutoff)


def blur(radius: float = 2) -> Step:
    """Gaussian blur with this radius in pixels."""
    return _op("blur", radius=radius)


def sharpen(percent: int = 150, radius: float = 2, threshold: int = 3) -> Step:
    """Unsharp mask: `percent` strength, `radius` in pixels, `threshold` in levels."""
    return _op("sharpen", percent=percent, radius=radius, threshold=threshold)


def convert(mode: str) -> Step:
    """Convert to RGB, RGBA, L or LA; dropping alpha composites onto white."""
    return _op("convert", mode=mode)


def save(format: str = "jpeg", quality: int = 85, template: str = "{stem}.{ext}") -> Step:
    """Write the image as it is at this point of the pipeline.

    Args:
        format: jpeg, png or webp.
        quality: 1..100, for JPEG and WebP.
        template: The file name, from `{stem}` (the input's) and `{ext}`
            (jpg, png, webp); written under the output directory, in the
            input's relative directory. It may not contain a path separator.
    """
    return _op("save", format=format, quality=quality, template=template)
