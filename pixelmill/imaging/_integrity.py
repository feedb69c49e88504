"""Checks Pillow skips: PNG image data CRCs, JPEGs too small for their size or of too many scans."""

from __future__ import annotations

import os
import struct
import zlib
from typing import TYPE_CHECKING

from pixelmill.errors import TruncatedImageError, UnsupportedImageError

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

__all__ = ["MAX_JPEG_SCANS", "check_integrity"]

MAX_JPEG_SCANS = 500
"""The most scans a progressive JPEG may have; encoders write about ten.

libjpeg makes a pass over every block of the image for each scan, so a
300 KB file of 20,000 scans takes seconds to decode (a work bomb)."""

# A Huffman-coded JPEG spends at least one bit on every 8x8 block of every
# component (512 pixels a byte for grey; Pillow's flattest files reach 255).
# Eight times that margin still refuses a file that claims thousands of times
# the pixels its bytes can hold.
_JPEG_PIXELS_PER_BYTE = 4096
# Arithmetic coding has no such floor: a flat image may be far smaller.
_ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_MAX_SEGMENTS = 4096
_READ_SIZE = 1 << 20


def check_integrity(path: Path, fd: int, image: Image.Image) -> None:
    """Refuse a file that Pillow would decode silently wrong, or only very slowly.

    `image` is the file as Pillow opened it from `fd`, before decoding.

    - PNG: Pillow checks the CRC of every chunk before the image data, but
      never of the image data (IDAT) itself, so flipped bits there decode to
      wrong pixels or not at all; libpng refuses such a file, and so does this.
    - JPEG: when the data ends early, libjpeg fills the rest with grey and
      Pillow reports success. A file far too small for the pixels its header
      claims (one byte for 4,096 pixels, an eighth of the least Huffman
      coding can spend) is refused before any pixel is decoded. Arithmetic-
      coded JPEGs, which have no such floor, are let through.
    - Progressive JPEG: more than `MAX_JPEG_SCANS` scans is refused before
      decoding. Only progressive files are counted (reading the whole file).

    Reads with `pread`, so the position of the file Pillow reads is unchanged.

    Raises:
        TruncatedImageError: the data is corrupt; the message says how.
        UnsupportedImageError: a progressive JPEG of too many scans.
    """
    if image.format == "PNG":
        _check_png_data_crcs(path, fd)
    elif image.format in ("JPEG", "MPO"):
        _check_jpeg_size(path, fd, image.size)
        if image.info.get("progressive"):
            _check_jpeg_scans(path, fd)


def _check_png_data_crcs(path: Path, fd: int) -> None:
    offset, seen_data = 8, False
    while True:
        head = os.pread(fd, 8, offset)
        if len(head) < 8:
            return  # truncated: Pillow's own read reports it
        length, kind = struct.unpack(">I4s", head)
        if kind != b"IDAT":
            if seen_data:
                return
            offset += 12 + length
            continue
        seen_data = True
        crc, done = zlib.crc32(kind), 0
        while done < length:
            block = os.pread(fd, min(_READ_SIZE, length - done), offset + 8 + done)
            if not block:
                return
            crc, done = zlib.crc32(block, crc), done + len(block)
        stored = os.pread(fd, 4, offset + 8 + length)
        if len(stored) == 4 and struct.unpack(">I", stored)[0] != crc:
            raise TruncatedImageError(f"{path}: corrupt PNG: image data fails its CRC check")
        offset += 12 + length


def _check_jpeg_size(path: Path, fd: int, size: tuple[int, int]) -> None:
    width, height = size
    file_size = os.fstat(fd).st_size
    if file_size * _JPEG_PIXELS_PER_BYTE >= width * height:
        return
    if _frame_marker(fd) in _ARITHMETIC_SOF:
        return
    raise TruncatedImageError(
        f"{path}: truncated JPEG: {file_size:,} bytes cannot hold the "
        f"{width}x{height} pixels its header claims"
    )


def _check_jpeg_scans(path: Path, fd: int) -> None:
    # Entropy-coded data escapes every 0xFF byte, so FF DA is always a marker
    # (an embedded EXIF thumbnail's scans count too: harmless at this limit).
    # One buffer, read into: no new bytes object per block.
    buffer = bytearray(_READ_SIZE)
    scans, offset, last = 0, 0, 0
    while scans <= MAX_JPEG_SCANS:
        size = os.preadv(fd, [buffer], offset)
        if not size:
            return
        block = buffer if size == _READ_SIZE else buffer[:size]
        scans += block.count(b"\xff\xda") + (last == 0xFF and block[0] == 0xDA)
        last, offset = block[-1], offset + size
    raise UnsupportedImageError(
        f"{path}: a progressive JPEG of more than {MAX_JPEG_SCANS} scans "
        "(encoders write about ten): refused, as decoding it takes a pass over "
        "the image for each"
    )


def _frame_marker(fd: int) -> int | None:
    """The SOFn marker that says how the JPEG is coded; `None` if not found."""
    offset = 2
    for _ in range(_MAX_SEGMENTS):
        head = os.pread(fd, 4, offset)
        if len(head) < 2 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker in _SOF:
            return marker
        if marker == 0xFF:  # fill byte
            offset += 1
        elif marker in _STANDALONE:
            offset += 2
        elif marker == 0xDA or len(head) < 4:  # start of scan: no frame header before it
            return None
        else:
            offset += 2 + struct.unpack(">H", head[2:4])[0]
    return None
