"""Formats: every default format decodes from a real file, the rest are refused by name."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from pixelmill import errors
from pixelmill.actors._inputs import IMAGE_EXTENSIONS
from pixelmill.imaging.formats import (
    DEFAULT_FORMATS,
    OFF_BY_DEFAULT,
    check_formats,
    extensions_of,
    known_formats,
)
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run
from pixelmill.imaging.safe_open import open_image, probe

BIG = 10**8
SIZE = (64, 48)
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
NOWHERE = OutputTarget(output_dir=None, stem="x")
EPS_TEXT = "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\n"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# Pillow writes HEIF once pillow-heif's plugin is registered, as pixelmill does on first use.
pillow_heif.register_heif_opener()


def _marked(mode: str = "RGB") -> Image.Image:
    """Blue, with a red top-left quarter: shows size, orientation and colours."""
    image = Image.new("RGB", SIZE, BLUE)
    image.paste(RED, (0, 0, SIZE[0] // 4, SIZE[1] // 4))
    return image.convert(mode)


def _dcx(frames: list[Image.Image]) -> bytes:
    """A DCX file (Pillow reads DCX but cannot write it): PCX pages behind an offset table."""
    pages = []
    for frame in frames:
        buffer = io.BytesIO()
        frame.save(buffer, "PCX")
        pages.append(buffer.getvalue())
    offset = 4 + 4 * (len(pages) + 1)
    table = []
    for page in pages:
        table.append(offset)
        offset += len(page)
    return struct.pack(f"<I{len(table) + 1}I", 0x3ADE68B1, *table, 0) + b"".join(pages)


# Format -> how to write the marked image, and the colour tolerance of its codec.
WRITERS: dict[str, tuple[Callable[[Path], None], int]] = {
    "JPEG": (lambda p: _marked().save(p, "JPEG", quality=95), 24),
    "PNG": (lambda p: _marked().save(p, "PNG"), 0),
    "WEBP": (lambda p: _marked().save(p, "WEBP", lossless=True), 0),
    "GIF": (lambda p: _marked().save(p, "GIF"), 0),
    "TIFF": (lambda p: _marked().save(p, "TIFF"), 0),
    "BMP": (lambda p: _marked().save(p, "BMP"), 0),
    "AVIF": (lambda p: _marked().save(p, "AVIF", quality=90), 24),
    "HEIF": (lambda p: _marked().save(p, "HEIF", quality=90), 24),
    "BLP": (lambda p: _marked("P").save(p, "BLP"), 0),
    "DCX": (lambda p: p.write_bytes(_dcx([_marked(), Image.new("RGB", SIZE, GREEN)])), 0),
    "DDS": (lambda p: _marked().save(p, "DDS"), 0),
    "DIB": (lambda p: _marked().save(p, "DIB"), 0),
    "JPEG2000": (lambda p: _marked().save(p, "JPEG2000"), 0),
    "PCX": (lambda p: _marked().save(p, "PCX"), 0),
    "PPM": (lambda p: _marked().save(p, "PPM"), 0),
    "QOI": (lambda p: _marked().save(p, "QOI"), 0),
    "SGI": (lambda p: _marked().save(p, "SGI"), 0),
    "TGA": (lambda p: _marked().save(p, "TGA"), 0),
}
"""Every default format Pillow (or pillow-heif) can write, and DCX made by hand."""


def _corners(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return pixels[2, 2], pixels[-3, -3]


@pytest.mark.parametrize("fmt", WRITERS)
def test_each_default_format_decodes_from_a_real_file(fmt: str, tmp_path: Path) -> None:
    write, tolerance = WRITERS[fmt]
    path = tmp_path / "image.bin"  # read by content, whatever the name
    write(path)
    assert fmt in DEFAULT_FORMATS
    assert probe(path, formats=DEFAULT_FORMATS).format == fmt
    opened = open_image(path, max_pixels=BIG)
    assert (opened.format, opened.image.size) == (fmt, SIZE)
    red, blue = _corners(opened.image)
    assert np.abs(red - RED).max() <= tolerance, red
    assert np.abs(blue - BLUE).max() <= tolerance, blue


@pytest.mark.parametrize(("fmt", "mode"), [("MSP", "1"), ("XBM", "1"), ("SPIDER", "F")])
def test_grey_and_bilevel_default_formats_decode_to_grey(
    fmt: str, mode: str, tmp_path: Path
) -> None:
    path = tmp_path / "image.bin"
    # Through a buffer: Pillow's SPIDER writer registers the file name's extension.
    buffer = io.BytesIO()
    _marked(mode).save(buffer, fmt)
    path.write_bytes(buffer.getvalue())
    opened = open_image(path, max_pixels=BIG)
    assert (opened.format, opened.image.size, opened.image.mode) == (fmt, SIZE, "L")


def _saved_all(fmt: str, path: Path) -> Path:
    frames = [_marked(), Image.new("RGB", SIZE, GREEN), Image.new("RGB", SIZE, BLUE)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:])
    return path


@pytest.mark.parametrize(
    "write",
    [
        lambda p: _saved_all("GIF", p),
        lambda p: _saved_all("TIFF", p),
        lambda p: _saved_all("PNG", p),  # APNG
        lambda p: _saved_all("WEBP", p),
        lambda p: p.write_bytes(_dcx([_marked(), Image.new("RGB", SIZE, GREEN)])),
    ],
    ids=["gif", "tiff", "apng", "webp", "dcx"],
)
def test_a_multi_frame_file_is_read_as_its_first_frame(
    write: Callable[[Path], Any], tmp_path: Path
) -> None:
    path = tmp_path / "frames.bin"
    write(path)
    with Image.open(path) as source:
        assert getattr(source, "n_frames", 1) > 1
    image = open_image(path, max_pixels=BIG).image
    assert image.size == SIZE
    red, blue = _corners(image)
    assert np.abs(red - RED).max() <= 8
    assert np.abs(blue - BLUE).max() <= 8


def test_an_ico_file_is_read_as_its_largest_image(tmp_path: Path) -> None:
    path = tmp_path / "icon.ico"
    Image.new("RGBA", (128, 128), (*RED, 255)).save(path, sizes=[(16, 16), (128, 128), (32, 32)])
    opened = open_image(path, max_pixels=BIG)
    assert (opened.format, opened.image.size) == ("ICO", (128, 128))


def test_an_icns_file_is_read_as_its_largest_image(tmp_path: Path) -> None:
    path = tmp_path / "icon.icns"
    Image.new("RGBA", (64, 64), (*RED, 255)).save(path)
    with Image.open(path) as source:
        largest = max(max(size[:2]) * size[2] for size in source.info["sizes"])
    opened = open_image(path, max_pixels=BIG)
    assert opened.format == "ICNS"
    assert opened.image.size == (largest, largest) != (64, 64)


def _eps(path: Path) -> None:
    path.write_text(EPS_TEXT)


def _pdf(path: Path) -> None:
    path.write_bytes(PDF_BYTES)


@pytest.mark.parametrize(
    ("write", "fmt", "setting"),
    [(_eps, "EPS", '"EPS" to formats ([input] formats'), (_pdf, "PDF", "no formats setting")],
    ids=["eps", "pdf"],
)
def test_eps_and_pdf_are_unsupported_naming_the_format_and_the_setting(
    write: Callable[[Path], None], fmt: str, setting: str, tmp_path: Path
) -> None:
    path = tmp_path / "document.jpg"  # the name does not matter
    write(path)
    with pytest.raises(errors.UnsupportedImageError) as caught:
        run(path, Pipeline(), NOWHERE)
    message = str(caught.value)
    assert caught.value.reason == "input.unsupported"
    assert message.startswith(f"{path}: {fmt} ")
    assert setting in message
    assert "\n" not in message


def test_eps_is_off_by_default_because_ghostscript_would_run(tmp_path: Path) -> None:
    _eps(tmp_path / "a.eps")
    assert "EPS" in OFF_BY_DEFAULT
    assert "EPS" not in DEFAULT_FORMATS
    with pytest.raises(errors.UnsupportedImageError, match="Ghostscript"):
        open_image(tmp_path / "a.eps", max_pixels=BIG)


def test_probe_reads_the_header_of_a_format_off_by_default(tmp_path: Path) -> None:
    # The JobManager probes with every format, so that a job that enables EPS
    # gets it; the worker's open_image, with the job's formats, refuses it.
    _eps(tmp_path / "a.eps")
    assert probe(tmp_path / "a.eps").format == "EPS"
    with pytest.raises(errors.UnsupportedImageError, match="EPS"):
        probe(tmp_path / "a.eps", formats=DEFAULT_FORMATS)


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_not_an_image(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    with pytest.raises(errors.NotAnImageError, match="not an image"):
        open_image(path, max_pixels=BIG)
    with pytest.raises(errors.NotAnImageError):
        probe(path)


def test_a_narrowed_list_makes_png_unsupported_and_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    _marked().save(path)
    pipeline = Pipeline.validated(formats=["jpeg"])
    with pytest.raises(errors.UnsupportedImageError) as caught:
        run(path, pipeline, NOWHERE)
    assert str(caught.value) == (
        f"{path}: PNG image: PNG is not among the formats this job reads; add \"PNG\" to "
        "formats ([input] formats in the config, or the job's formats) to read it"
    )


def test_a_corrupt_file_of_an_allowed_format_is_truncated_not_unsupported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.qoi"
    path.write_bytes(b"qoif" + bytes(12))
    with pytest.raises(errors.TruncatedImageError, match="QOI signature"):
        open_image(path, max_pixels=BIG)


def test_a_corrupt_file_of_a_format_not_read_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(24))
    with pytest.raises(errors.UnsupportedImageError, match="PNG image"):
        open_image(path, max_pixels=BIG, formats=("JPEG",))


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")
def test_a_format_off_by_default_is_read_once_listed(tmp_path: Path) -> None:
    path = tmp_path / "a.im"
    _marked().save(path, "IM")
    with pytest.raises(errors.UnsupportedImageError, match="IM is off by default"):
        open_image(path, max_pixels=BIG)
    formats = check_formats([*DEFAULT_FORMATS, "im"])
    assert open_image(path, max_pixels=BIG, formats=formats).image.size == SIZE


def test_names_and_extensions_are_normalised_to_pillows_names_in_trial_order() -> None:
    assert check_formats(["tif", "heic", "Jpg", ".png", "JPEG", "ps"]) == (
        "JPEG", "PNG", "TIFF", "HEIF", "EPS",
    )
    assert check_formats(DEFAULT_FORMATS) == DEFAULT_FORMATS
    assert set(DEFAULT_FORMATS) <= set(known_formats())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["jpeg", "jpge"], "input.formats: unknown image format 'jpge' (did you mean"),
        (["svgz"], "input.formats: unknown image format 'svgz' (known: JPEG, PNG,"),
        (["pdf"], "input.formats: PDF cannot be enabled: Pillow writes PDF files but cannot"),
        (["mpo"], "input.formats: MPO (multi-picture JPEG) is read as JPEG"),
        ([], "input.formats: expected at least one image format"),
        ("png", "input.formats: expected a list of image format names, got 'png'"),
        ([3], "input.formats: expected image format names, got 3"),
    ],
)
def test_a_bad_formats_setting_is_one_line_naming_the_key(value: Any, message: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        check_formats(value, key="input.formats")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_pipeline_carries_its_formats_through_its_data() -> None:
    pipeline = Pipeline.validated(formats=["heic", "jpg"])
    assert pipeline.formats == ("JPEG", "HEIF")
    data = pipeline.to_data()
    assert data["formats"] == ["JPEG", "HEIF"]
    assert Pipeline.from_data(data) == pipeline
    del data["formats"]  # a job stored before pipelines had formats
    assert Pipeline.from_data(data).formats == DEFAULT_FORMATS
    with pytest.raises(errors.ConfigError, match="formats: unknown image format 'bogus'"):
        Pipeline(formats=("bogus",))


def test_the_directory_walk_picks_up_the_default_formats_extensions() -> None:
    assert extensions_of(DEFAULT_FORMATS) >= IMAGE_EXTENSIONS
    for ext in (".jpg", ".png", ".heic", ".heif", ".avif", ".qoi", ".ico", ".icns", ".jp2",
                ".tga", ".dds", ".psd", ".mpo", ".webp", ".tiff"):
        assert ext in IMAGE_EXTENSIONS, ext
    for ext in (".eps", ".ps", ".pdf", ".im", ".mpg", ".txt"):
        assert ext not in IMAGE_EXTENSIONS, ext
