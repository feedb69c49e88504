"""Open untrusted image files: regular files only, allowed formats, bounded pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from pixelmill.errors import ImageTooLargeError
from pixelmill.imaging._decode_errors import map_decode_errors
from pixelmill.imaging._exif import ORIENTATION_TRANSPOSE, read_exif, read_orientation
from pixelmill.imaging._modes import to_working
from pixelmill.imaging._regular_file import open_regular_file

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DRAFT_FORMATS",
    "FORMATS",
    "ImageHeader",
    "OpenedImage",
    "draft_scale",
    "map_decode_errors",
    "open_image",
    "probe",
]

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "PPM")
"""The formats pixelmill decodes, identified by content whatever the extension.

Never EPS/PS (Pillow runs Ghostscript to load them) nor any format not listed.
A multi-picture JPEG comes through "JPEG" and reports itself as "MPO".
"""

_SWAPS_AXES = frozenset({5, 6, 7, 8})
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
"""Formats whose decoder can scale down while decoding (libjpeg DCT scaling)."""


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What a file's header says, read without decoding: enough to size a lease."""

    format: str
    width: int
    """As stored, before EXIF orientation."""
    height: int
    bands: int
    """Bands of the stored mode: 3 for RGB, 1 for L, P and 16-bit grey, 4 for CMYK."""


@dataclass(frozen=True, slots=True)
class OpenedImage:
    """A decoded image ready for ops, and what the source was."""

    image: Image.Image
    """Upright (EXIF orientation applied) and in L, LA, RGB or RGBA; `info` holds
    at most the ICC profile. Detached from the file, which is already closed."""
    format: str
    """Detected from the content, e.g. "JPEG"."""
    source_size: tuple[int, int]
    """Width and height as stored in the file: before draft, before orientation."""
    source_mode: str
    """The mode as decoded by Pillow, e.g. "I;16", "P", "CMYK"."""
    exif: dict[str, Any] = field(default_factory=dict)
    """EXIF basics, JSON-safe: make, model, datetime_original, orientation, iso,
    exposure_time, f_number, focal_length, each only when present."""


def probe(path: Path) -> ImageHeader:
    """Read the header of `path`, without decoding any pixel data.

    Raises:
        InputError: a subclass saying why the file is not an image pixelmill
            accepts (see `map_decode_errors`); a truncated file whose header is
            intact passes here and fails in `open_image`.
        TransientIOError: the read failed in a way that may pass on retry.
    """
    with map_decode_errors(path), open_regular_file(path) as fp:
        image = Image.open(fp, formats=FORMATS)
        return ImageHeader(
            format=str(image.format),
            width=image.width,
            height=image.height,
            bands=len(image.getbands()),
        )


def open_image(
    path: Path,
    *,
    max_pixels: int,
    draft_size: tuple[int, int] | None = None,
    draft_fit: bool = False,
) -> OpenedImage:
    """Decode the first frame of `path` fully, upright and in a working mode.

    The header's pixel count is checked against `max_pixels` before any pixel
    is decoded. Pillow's `DecompressionBombError` (and its warning, when the
    process turns it into an error as workers do) becomes `ImageTooLargeError`
    too; this function does not touch the process-wide warning filters.

    Args:
        path: The file; only a regular file is opened, never a FIFO or device.
        max_pixels: The most pixels (width x height, as stored) to decode.
        draft_size: The smallest upright (width, height) the pipeline needs.
            For JPEG, libjpeg then decodes at 1/2, 1/4 or 1/8 scale where that
            still covers it (requested as the final target, since Pillow only
            scales when the image is at least twice the box); other formats
            decode at full size.
        draft_fit: `draft_size` is a box the image will be fitted into keeping
            its aspect (a thumbnail), not an exact size to cover (a resize), so
            only the fitted size must be covered.

    Raises:
        InputError: a subclass naming the file and what was wrong with it.
        TransientIOError: the read failed in a way that may pass on retry.
    """
    with map_decode_errors(path), open_regular_file(path) as fp:
        image: Image.Image = Image.open(fp, formats=FORMATS)
        source_format, source_size, source_mode = str(image.format), image.size, image.mode
        if image.width * image.height > max_pixels:
            raise ImageTooLargeError(
                f"{path}: {image.width}x{image.height} is "
                f"{image.width * image.height:,} pixels, over the limit of {max_pixels:,}"
            )
        if draft_size is not None and source_format in DRAFT_FORMATS:
            box = _draft_box(source_size, draft_size, read_orientation(image), fit=draft_fit)
            if box is not None:
                image.draft(None, box)
        image.load()
        exif = read_exif(image)
        # Rebinding `image` frees each stage as the next is made: at most two
        # full copies are alive at once (estimate_memory_mb counts on it).
        image = _upright(image, exif.get("orientation", 1))
        image = to_working(image)
    icc = image.info.get("icc_profile")
    image.info = {"icc_profile": icc} if icc else {}
    return OpenedImage(
        image=image,
        format=source_format,
        source_size=source_size,
        source_mode=source_mode,
        exif=exif,
    )


def draft_scale(
    source_size: tuple[int, int], draft_size: tuple[int, int], *, fit: bool = False
) -> int:
    """The JPEG DCT scale (1, 2, 4 or 8) `open_image` decodes at for an upright box.

    Orientation is ignored (the box is taken as stored), which is what an
    estimate from the header needs; Pillow's own rule is reproduced.
    """
    box = _draft_box(source_size, draft_size, 1, fit=fit)
    if box is None:
        return 1
    ratio = min(source_size[0] // box[0], source_size[1] // box[1])
    return next(scale for scale in (8, 4, 2, 1) if ratio >= scale)


def _draft_box(
    source_size: tuple[int, int], draft_size: tuple[int, int], orientation: int, *, fit: bool
) -> tuple[int, int] | None:
    width, height = draft_size
    if orientation in _SWAPS_AXES:
        width, height = height, width
    if fit:
        factor = min(width / source_size[0], height / source_size[1])
        if factor >= 1:
            return None
        # The epsilon keeps float noise (1000.0000000001) from costing a scale step.
        width = max(1, math.ceil(source_size[0] * factor - 1e-9))
        height = max(1, math.ceil(source_size[1] * factor - 1e-9))
    return (width, height)


def _upright(image: Image.Image, orientation: Any) -> Image.Image:
    method = ORIENTATION_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)
