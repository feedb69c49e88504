"""The image fixtures are deterministic and write only where they are told."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from pixelmill.testing.images import (
    BROKEN_KINDS,
    gif_with_frames,
    gradient_mean,
    progressive_jpeg_with_scans,
    tiff_with,
    write_gradient,
    write_image,
    write_photo_like,
    write_sample_set,
)


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = write_photo_like(tmp_path / "a.jpg", (120, 80), seed=4).read_bytes()
    assert write_photo_like(tmp_path / "b.jpg", (120, 80), seed=4).read_bytes() == first
    assert write_photo_like(tmp_path / "c.jpg", (120, 80), seed=5).read_bytes() != first


def test_a_sample_set_mixes_formats_and_appends_broken_files(tmp_path: Path) -> None:
    paths = write_sample_set(tmp_path / "set", 6, seed=1, broken=len(BROKEN_KINDS) + 1)
    assert len(paths) == 6 + len(BROKEN_KINDS) + 1
    assert sorted(p.suffix for p in paths[:6]) == [".jpg", ".jpg", ".png", ".png", ".webp", ".webp"]
    assert all(p.name.startswith("broken_") for p in paths[6:])
    assert sorted(tmp_path.rglob("*")) == sorted([tmp_path / "set", *paths])
    assert [p.read_bytes() for p in paths] == [
        p.read_bytes()
        for p in write_sample_set(tmp_path / "again", 6, seed=1, broken=len(BROKEN_KINDS) + 1)
    ]


def test_the_photos_of_a_sample_set_are_real_images(tmp_path: Path) -> None:
    for path in write_sample_set(tmp_path, 3):
        with Image.open(path) as image:
            image.load()
            assert min(image.size) >= 240 and max(image.size) <= 800


def test_gradient_mean_matches_the_written_pixels(tmp_path: Path) -> None:
    for width in (1, 7, 100, 256):
        with Image.open(write_gradient(tmp_path / f"g{width}.png", (width, 3))) as image:
            pixels = np.asarray(image.convert("L")).ravel().tolist()
        assert sum(pixels) / len(pixels) == gradient_mean(width)


def test_write_image_stores_an_orientation_tag(tmp_path: Path) -> None:
    with Image.open(write_image(tmp_path / "o.jpg", size=(30, 20), exif_orientation=8)) as image:
        assert image.size == (20, 30)
        assert image.getexif()[0x0112] == 8


def test_crafted_files_say_what_they_claim() -> None:
    with Image.open(io.BytesIO(gif_with_frames(7))) as gif:
        assert isinstance(gif, GifImagePlugin.GifImageFile)
        assert (gif.n_frames, gif.convert("RGB").getpixel((0, 0))) == (7, (255, 0, 0))
        gif.seek(1)
        assert gif.convert("RGB").getpixel((0, 0)) == (0, 255, 0)
    with Image.open(io.BytesIO(tiff_with({256: 300, 257: 200}))) as tiff:
        assert tiff.size == (300, 200)
    assert progressive_jpeg_with_scans(9).count(b"\xff\xda") == 9
    with pytest.raises(ValueError, match="scans: expected at least 6"):
        progressive_jpeg_with_scans(2)
