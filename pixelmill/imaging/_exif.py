"""EXIF basics as JSON-safe values, and the orientation that decoding must undo."""

from __future__ import annotations

import math
import struct
from numbers import Rational
from typing import Any

from PIL import ExifTags, Image

__all__ = ["ORIENTATION_TRANSPOSE", "read_exif", "read_orientation"]

ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that shows the stored pixels upright."""

_BASE_TAGS = {
    "make": ExifTags.Base.Make,
    "model": ExifTags.Base.Model,
    "orientation": ExifTags.Base.Orientation,
}
_EXIF_IFD_TAGS = {
    "datetime_original": ExifTags.Base.DateTimeOriginal,
    "iso": ExifTags.Base.ISOSpeedRatings,
    "exposure_time": ExifTags.Base.ExposureTime,
    "f_number": ExifTags.Base.FNumber,
    "focal_length": ExifTags.Base.FocalLength,
}
_MAX_TEXT = 256
# What Pillow's EXIF parser raises on a malformed block.
_EXIF_ERRORS = (SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error, OSError)


def read_exif(image: Image.Image) -> dict[str, Any]:
    """The EXIF basics present in `image`, JSON-safe; `{}` when it has none.

    Keys, each only when present: make, model, datetime_original, orientation,
    iso, exposure_time (seconds), f_number, focal_length (mm). A malformed EXIF
    block gives `{}`: metadata is optional, the pixels are not.
    """
    try:
        exif = image.getexif()
        sub_ifd = exif.get_ifd(ExifTags.IFD.Exif)
        raw = {key: exif.get(tag) for key, tag in _BASE_TAGS.items()}
        raw |= {key: sub_ifd.get(tag, exif.get(tag)) for key, tag in _EXIF_IFD_TAGS.items()}
    except _EXIF_ERRORS:
        return {}
    found = {key: _json_safe(value) for key, value in raw.items()}
    return {key: value for key, value in found.items() if value is not None}


def read_orientation(image: Image.Image) -> int:
    """The EXIF orientation of `image` (1..8); 1 when absent, invalid or unreadable.

    For JPEG this reads only the header; for PNG Pillow may decode to find it.
    """
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _EXIF_ERRORS:
        return 1
    return value if isinstance(value, int) and value in ORIENTATION_TRANSPOSE else 1


def _json_safe(value: Any) -> str | int | float | None:
    if isinstance(value, tuple | list):
        return _json_safe(value[0]) if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        cleaned = "".join(ch if ch.isprintable() else " " for ch in value.replace("\x00", ""))
        return cleaned.strip()[:_MAX_TEXT] or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Rational | float):
        try:
            number = float(value)
        except ZeroDivisionError:
            return None
        return number if math.isfinite(number) else None
    return None
