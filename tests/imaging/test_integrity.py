"""The checks Pillow skips: PNG data CRCs, JPEGs too small for their size or of too many scans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from pixelmill import errors
from pixelmill.imaging import _integrity as integrity
from pixelmill.imaging._integrity import MAX_JPEG_SCANS, check_integrity
from pixelmill.imaging.safe_open import open_image
from pixelmill.testing.images import (
    encoded,
    jpeg_claiming,
    photo_like,
    png_with_bad_crc,
    progressive_jpeg_with_scans,
)

BIG = 10**8


def _check(path: Path) -> None:
    with open(path, "rb") as fp, Image.open(fp) as image:
        position = fp.tell()
        check_integrity(path, fp.fileno(), image)
        assert fp.tell() == position


def _png_of_many_data_chunks() -> bytes:
    # Pillow's zlib encoder writes one IDAT per 64 KiB: a noisy 256x256 gives several.
    return encoded(photo_like((256, 256), seed=1), "PNG", compress_level=0)


def test_a_png_whose_later_data_chunk_fails_its_crc_is_truncated(tmp_path: Path) -> None:
    data = _png_of_many_data_chunks()
    assert data.count(b"IDAT") > 2
    good = tmp_path / "good.png"
    good.write_bytes(data)
    _check(good)
    # Break the CRC of the last IDAT, not the first.
    last = data.rindex(b"IDAT") - 4
    bad = tmp_path / "bad.png"
    bad.write_bytes(data[:last] + png_with_bad_crc(data[last:], b"IDAT"))
    with pytest.raises(errors.TruncatedImageError, match="image data fails its CRC check"):
        _check(bad)


def test_a_truncated_png_is_left_for_pillow_to_report(tmp_path: Path) -> None:
    data = _png_of_many_data_chunks()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _check(path)
    with pytest.raises(errors.TruncatedImageError):
        open_image(path, max_pixels=BIG)


def test_an_arithmetic_coded_jpeg_has_no_size_floor(tmp_path: Path) -> None:
    huffman, arithmetic = tmp_path / "h.jpg", tmp_path / "a.jpg"
    huffman.write_bytes(jpeg_claiming(9_000, 9_000))
    arithmetic.write_bytes(jpeg_claiming(9_000, 9_000, frame_marker=0xC9))
    with pytest.raises(errors.TruncatedImageError, match="cannot hold the 9000x9000 pixels"):
        _check(huffman)
    _check(arithmetic)


def test_a_jpeg_at_the_size_floor_passes(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    path.write_bytes(jpeg_claiming(64, 64))
    pixels = os.path.getsize(path) * 4096
    path.write_bytes(jpeg_claiming(pixels // 1000, 1000))
    _check(path)
    path.write_bytes(jpeg_claiming(pixels // 1000 + 1, 1000))
    with pytest.raises(errors.TruncatedImageError):
        _check(path)


def test_a_progressive_jpeg_may_have_up_to_the_scan_limit(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    path.write_bytes(progressive_jpeg_with_scans(MAX_JPEG_SCANS))
    _check(path)
    path.write_bytes(progressive_jpeg_with_scans(MAX_JPEG_SCANS + 1))
    with pytest.raises(errors.UnsupportedImageError, match=f"more than {MAX_JPEG_SCANS} scans"):
        _check(path)


def test_flat_real_jpegs_stay_well_above_the_size_floor(tmp_path: Path) -> None:
    grey, colour = tmp_path / "grey.jpg", tmp_path / "colour.jpg"
    Image.new("L", (1024, 1024), 0).save(grey, quality=1, optimize=True)
    Image.new("RGB", (1024, 1024), 0).save(colour, quality=1, progressive=True)
    _check(grey)
    _check(colour)


@pytest.mark.parametrize("read_size", [2, 7, 64])
def test_scans_are_counted_across_read_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_size: int
) -> None:
    # Small reads split FF DA markers between blocks at every offset parity.
    monkeypatch.setattr(integrity, "_READ_SIZE", read_size)
    path = tmp_path / "p.jpg"
    path.write_bytes(progressive_jpeg_with_scans(MAX_JPEG_SCANS))
    _check(path)
    path.write_bytes(progressive_jpeg_with_scans(MAX_JPEG_SCANS + 1))
    with pytest.raises(errors.UnsupportedImageError, match=f"more than {MAX_JPEG_SCANS} scans"):
        _check(path)
