"""Deterministic image files for tests and demos: solid, gradient, photo-like and broken.

The broken ones are also offered as bytes, crafted from valid files: headers
that lie about the size, bad CRCs, bad offsets, thousands of JPEG scans.
"""

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
    "PNG_SIGNATURE",
    "encoded",
    "encoded_photo",
    "gif_with_frames",
    "gif_with_screen",
    "gradient_mean",
    "jpeg_claiming",
    "marked_image",
    "photo_like",
    "png_chunk",
    "png_with_bad_crc",
    "png_with_chunk",
    "progressive_jpeg_with_scans",
    "tiff_with",
    "write_broken_files",
    "write_gradient",
    "write_huge_header_png",
    "write_image",
    "write_photo_like",
    "write_sample_set",
]

Color = int | float | tuple[int, ...]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""
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
    image = marked_image(size, color, mode=mode, corner_color=corner_color)
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


def marked_image(
    size: tuple[int, int],
    color: Color,
    *,
    mode: str = "RGB",
    corner_color: Color | None = None,
) -> Image.Image:
    """A solid image whose top-left quarter (at least one pixel) is `corner_color`."""
    image = Image.new(mode, size, color)
    if corner_color is not None:
        image.paste(corner_color, (0, 0, max(1, size[0] // 4), max(1, size[1] // 4)))
    return image


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
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and a correct CRC."""
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    """`image` saved as `fmt` with `options`, as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encoded_photo(fmt: str, seed: int = 7) -> bytes:
    """A 96x64 `photo_like` image encoded as `fmt`, as bytes."""
    return encoded(photo_like((96, 64), seed), fmt)


def png_with_chunk(image: Image.Image, kind: bytes, data: bytes) -> bytes:
    """`image` as PNG with the data of its first `kind` chunk replaced, CRC recomputed."""
    png = encoded(image, "PNG")
    at = png.index(kind) - 4
    length = struct.unpack(">I", png[at : at + 4])[0]
    return png[:at] + png_chunk(kind, data) + png[at + 12 + length :]


def png_with_bad_crc(png: bytes, kind: bytes) -> bytes:
    """`png` with the CRC of its first `kind` chunk inverted."""
    at = png.index(kind) - 4
    crc_at = at + 8 + struct.unpack(">I", png[at : at + 4])[0]
    return png[:crc_at] + bytes(255 - b for b in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


def jpeg_claiming(width: int, height: int, *, frame_marker: int = 0xC0) -> bytes:
    """A 16x16 baseline JPEG whose frame header claims `width` x `height`.

    `frame_marker` replaces the SOF0 marker's second byte (0xC9 claims
    arithmetic coding); only the header changes, the data stays as it was.
    """
    data = bytearray(encoded(Image.new("RGB", (16, 16), (0, 0, 255)), "JPEG"))
    at = 2
    while data[at + 1] != 0xC0:
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    data[at + 1] = frame_marker
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def progressive_jpeg_with_scans(scans: int) -> bytes:
    """A flat 2048x2048 progressive JPEG of `scans` scans (6 or more) that libjpeg decodes.

    Pillow writes six scans; the last one is repeated for the rest. libjpeg
    takes about 2 ms a scan over it: 20,000 scans are a 340 KB work bomb.
    """
    data = encoded(Image.new("L", (2048, 2048), 128), "JPEG", progressive=True)
    # The scans of a flat image hold no 0xFF byte: the last one runs to EOI.
    last, written = data.rindex(b"\xff\xda"), data.count(b"\xff\xda")
    if scans < written:
        raise ValueError(f"scans: expected at least {written}, got {scans}")
    return data[:-2] + data[last:-2] * (scans - written) + data[-2:]


def tiff_with(tags: dict[int, int], *, ifd_offset: int | None = None) -> bytes:
    """A 4x4 grey TIFF with LONG tag values (size, strip offsets) or its IFD offset replaced."""
    data = bytearray(encoded(Image.new("L", (4, 4), 128), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    if ifd_offset is not None:
        data[4:8] = struct.pack("<I", ifd_offset)
    for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack("<HH", data[at : at + 4])
        if tag in tags and kind == 4:
            data[at + 8 : at + 12] = struct.pack("<I", tags[tag])
    return bytes(data)


def gif_with_frames(count: int) -> bytes:
    """A 1x1 GIF of `count` frames: the first red, every other one green."""
    # Palette: 0 red, 1 green. Each frame's LZW data is clear, index, end of
    # information, as three 3-bit codes: 0x44 0x01 for index 0, 0x4C 0x01 for 1.
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + bytes((255, 0, 0, 0, 255, 0))
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02"
    first, other = descriptor + b"\x44\x01\x00", descriptor + b"\x4c\x01\x00"
    return screen + first + other * (count - 1) + b"\x3b"


def gif_with_screen(width: int, height: int) -> bytes:
    """A 4x4 GIF whose logical screen claims `width` x `height`."""
    data = encoded(Image.new("P", (4, 4), 1), "GIF")
    return data[:6] + struct.pack("<HH", width, height) + data[10:]


def _truncated(fmt: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        data = encoded_photo(fmt)
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
        lambda p: p.write_bytes(PNG_SIGNATURE + bytes(range(256)) * 4),
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
