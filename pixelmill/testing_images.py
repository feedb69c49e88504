"""Deterministic image files for tests and demos: solid, gradient, photo-like and broken."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from pixelmill.imaging._exif import ORIENTATION_TRANSPOSE

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "BROKEN_KINDS",
    "gradient_mean",
    "photo_like",
    "write_broken_files",
    "write_gradient",
    "write_huge_header_png",
    "write_image",
    "write_photo_like",
    "write_sample_set",
]

Color = int | float | tuple[int, ...]
_ORIENTATION_TAG = 0x0112
# Applying the inverse of the EXIF transpose to an upright image gives what a
# camera stores; flips and transpositions are their own inverse.
_STORED = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def write_image(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: Color = (200, 30, 30),
    fmt: str | None = None,
    mode: str = "RGB",
    exif_orientation: int | None = None,
    *,
    corner_color: Color | None = None,
) -> Path:
    """Write a solid-colour image and return `path`.

    Args:
        path: Where to write; the format follows its extension unless `fmt` is given.
        size: The *upright* (width, height): with `exif_orientation`, the pixels
            are stored transposed so that a correct reader shows `size`.
        color: A value valid for `mode` (a 16-bit level for "I;16", a float for "F").
        fmt: A Pillow format name ("JPEG", "PNG", "WEBP", "TIFF", ...).
        mode: Any mode Pillow can create and the format can store.
        exif_orientation: 1..8, written as the EXIF Orientation tag (JPEG, PNG,
            WebP and TIFF keep it).
        corner_color: Paints the upright top-left quarter, to check orientation.
    """
    image = Image.new(mode, size, color)
    if corner_color is not None:
        image.paste(corner_color, (0, 0, max(1, size[0] // 4), max(1, size[1] // 4)))
    options: dict[str, object] = {}
    if exif_orientation is not None:
        stored = _STORED.get(exif_orientation, ORIENTATION_TRANSPOSE.get(exif_orientation))
        if stored is not None:
            image = image.transpose(stored)
        exif = Image.Exif()
        exif[_ORIENTATION_TAG] = exif_orientation
        options["exif"] = exif.tobytes()
    image.save(path, format=fmt, **options)
    return path


def gradient_mean(width: int) -> float:
    """The mean level of `write_gradient`'s image of this width (127.5 for 256)."""
    return float(_gradient_row(width).mean())


def _gradient_row(width: int) -> np.ndarray:
    if width == 1:
        return np.zeros(1, dtype=np.uint8)
    row: np.ndarray = np.rint(np.arange(width) * (255 / (width - 1))).astype(np.uint8)
    return row


def write_gradient(path: Path, size: tuple[int, int] = (256, 16), fmt: str | None = None) -> Path:
    """Write a grey RGB gradient, 0 at the left to 255 at the right, and return `path`.

    Every row is the same, so its mean is `gradient_mean(width)` in each channel.
    Use a lossless format (PNG, the default for a `.png` path) for exact statistics.
    """
    row = _gradient_row(size[0])
    levels = np.broadcast_to(row, (size[1], size[0]))
    Image.fromarray(np.ascontiguousarray(levels)).convert("RGB").save(path, format=fmt)
    return path


def photo_like(size: tuple[int, int], seed: int) -> Image.Image:
    """An RGB image with smooth noise, shapes and grain: compresses like a photo."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.uniform(0, 255, (max(2, height // 48), max(2, width // 48), 3)).astype(np.uint8)
    base = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(6):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1 + 1, y1 + 1), fill=fill)
    pixels = np.asarray(base, dtype=np.int16) + rng.integers(-6, 7, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_photo_like(
    path: Path, size: tuple[int, int] = (640, 480), seed: int = 0, fmt: str | None = None
) -> Path:
    """Write `photo_like(size, seed)` and return `path`; JPEG at quality 90."""
    photo_like(size, seed).save(path, format=fmt, quality=90)
    return path


def write_huge_header_png(path: Path, width: int, height: int) -> Path:
    """Write a tiny PNG whose header claims `width` x `height` (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def _encoded(fmt: str, seed: int = 7) -> bytes:
    buffer = io.BytesIO()
    photo_like((96, 64), seed).save(buffer, format=fmt)
    return buffer.getvalue()


def _truncated(fmt: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        data = _encoded(fmt)
        path.write_bytes(data[: len(data) // 2])

    return write


BROKEN_KINDS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "truncated_jpeg": (".jpg", _truncated("JPEG")),
    "truncated_png": (".png", _truncated("PNG")),
    "truncated_webp": (".webp", _truncated("WEBP")),
    "truncated_gif": (".gif", _truncated("GIF")),
    "text_as_jpeg": (".jpg", lambda p: p.write_text("this is not an image\n")),
    "empty": (".png", lambda p: p.write_bytes(b"")),
    "png_signature_garbage": (
        ".png",
        lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
    ),
    "jpeg_signature_garbage": (".jpg", lambda p: p.write_bytes(b"\xff\xd8\xff" + b"\x00" * 200)),
    "eps": (".jpg", lambda p: p.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n")),
    "huge_header": (".png", lambda p: write_huge_header_png(p, 100_000, 100_000)),
}
"""Each broken kind: the file extension it is written with, and its writer."""


def write_broken_files(directory: Path) -> dict[str, Path]:
    """Write one file of each of `BROKEN_KINDS` into `directory`; kind -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, (suffix, write) in BROKEN_KINDS.items():
        path = directory / f"{kind}{suffix}"
        write(path)
        written[kind] = path
    return written


def write_sample_set(directory: Path, count: int, seed: int = 0, broken: int = 0) -> list[Path]:
    """Write `count` photo-like images and `broken` broken files; return their paths.

    The images cycle through JPEG, PNG and WebP at sizes from 320x240 to
    800x600 (every fifth one portrait); the broken files cycle through
    `BROKEN_KINDS`. Images come first in the list, then the broken files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    suffixes = (".jpg", ".png", ".webp")
    for index in range(count):
        width = int(rng.integers(320, 801))
        size = (width, width * 3 // 4)
        if index % 5 == 4:
            size = size[::-1]
        path = directory / f"photo_{index:04d}{suffixes[index % 3]}"
        paths.append(write_photo_like(path, size, seed=seed * 100_003 + index))
    kinds = list(BROKEN_KINDS)
    for index in range(broken):
        kind = kinds[index % len(kinds)]
        suffix, write = BROKEN_KINDS[kind]
        path = directory / f"broken_{index:04d}_{kind}{suffix}"
        write(path)
        paths.append(path)
    return paths
