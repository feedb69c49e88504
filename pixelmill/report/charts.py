"""One PNG chart of an image's RGB histogram, drawn with Pillow, for `--charts`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from pixelmill.imaging.atomic import open_atomic

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["write_histogram_chart"]

_BACKGROUND = (255, 255, 255)
_GRID = (232, 234, 238)
_COLOURS = {"r": (224, 49, 49), "g": (47, 158, 68), "b": (28, 126, 214)}
_FILL_ALPHA = 56


def write_histogram_chart(
    histogram: Mapping[str, Sequence[int]], path: Path, *, size: tuple[int, int] = (256, 120)
) -> None:
    """Draw the r, g and b counts of `histogram` as a PNG at `path`, atomically.

    Each channel is a translucent filled curve with a solid outline, on a
    square-root scale (a clipped-white spike does not flatten the rest), on
    white with two grid lines. The PNG is written under a temporary name in
    the same directory and renamed into place, so no reader sees half a
    file; on failure the temporary file is removed and `path` is untouched.

    Args:
        histogram: The `rgb_histogram` analysis: `{"r": [...], "g": [...], "b": [...]}`,
            the same number (at least 2) of non-negative counts per channel.
        path: Where the PNG goes; its directory must exist.
        size: Width and height in pixels, each at least 8.

    Raises:
        ValueError: A channel is missing, the channels differ in length or
            hold fewer than 2 counts, a count is negative, or `size` is too small.
        OSError: Writing failed.
    """
    width, height = size
    if width < 8 or height < 8:
        raise ValueError(f"size: expected at least 8x8 pixels, got {width}x{height}")
    missing = [c for c in _COLOURS if c not in histogram]
    if missing:
        raise ValueError(f"histogram: no counts for {', '.join(missing)}")
    channels = {c: histogram[c] for c in _COLOURS}
    lengths = {len(counts) for counts in channels.values()}
    if len(lengths) != 1 or min(lengths) < 2:
        raise ValueError("histogram: expected r, g and b counts of one length, at least 2")
    if any(count < 0 for counts in channels.values() for count in counts):
        raise ValueError("histogram: counts must not be negative")
    image = _draw(channels, size)
    with open_atomic(path) as stream:
        image.save(stream, format="PNG", optimize=True)


def _draw(channels: Mapping[str, Sequence[int]], size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size, _BACKGROUND)
    # RGBA colours on an RGB image blend (on an RGBA image they would overwrite).
    draw = ImageDraw.Draw(image, "RGBA")
    for fraction in (0.5, 1.0):
        y = round((height - 1) * (1 - fraction))
        draw.line([(0, y), (width - 1, y)], fill=_GRID)
    peak = math.sqrt(max(1, *(max(counts) for counts in channels.values())))
    for name, counts in channels.items():
        last = len(counts) - 1
        points = [
            ((width - 1) * i / last, (height - 1) * (1 - math.sqrt(count) / peak))
            for i, count in enumerate(counts)
        ]
        colour = _COLOURS[name]
        draw.polygon(
            [(0, height - 1), *points, (width - 1, height - 1)], fill=(*colour, _FILL_ALPHA)
        )
        draw.line(points, fill=(*colour, 255), width=1)
    return image
