"""Safe open: what is refused, how failures are classified, how images come out."""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image, ImageCms

from pixelmill import errors
from pixelmill.imaging.safe_open import ImageHeader, map_decode_errors, open_image, probe
from pixelmill.testing.images import (
    write_broken_files,
    write_huge_header_png,
    write_image,
    write_photo_like,
)

if TYPE_CHECKING:
    from collections.abc import Callable

BIG = 10**8
RED, BLUE = (255, 0, 0), (0, 0, 255)

EXPECTED_BROKEN = {
    "truncated_jpeg": errors.TruncatedImageError,
    "truncated_png": errors.TruncatedImageError,
    "truncated_webp": errors.TruncatedImageError,
    "truncated_gif": errors.TruncatedImageError,
    "text_as_jpeg": errors.NotAnImageError,
    "empty": errors.NotAnImageError,
    "png_signature_garbage": errors.TruncatedImageError,
    "jpeg_signature_garbage": errors.TruncatedImageError,
    "eps": errors.UnsupportedImageError,
    "huge_header": errors.ImageTooLargeError,
}


@pytest.fixture(scope="module", name="broken")
def _broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_broken_files(tmp_path_factory.mktemp("broken"))


def test_every_broken_kind_has_an_expected_class(broken: dict[str, Path]) -> None:
    assert set(broken) == set(EXPECTED_BROKEN)


@pytest.mark.parametrize(("kind", "error"), EXPECTED_BROKEN.items(), ids=list(EXPECTED_BROKEN))
def test_each_broken_file_maps_to_its_exact_reason(
    kind: str, error: type[errors.InputError], broken: dict[str, Path]
) -> None:
    with pytest.raises(errors.PixelmillError) as caught:
        open_image(broken[kind], max_pixels=178_956_970)
    assert type(caught.value) is error
    assert str(broken[kind]) in str(caught.value)
    assert caught.value.__cause__ is not None


def test_a_truncated_file_with_an_intact_header_passes_probe(broken: dict[str, Path]) -> None:
    assert probe(broken["truncated_jpeg"]).format == "JPEG"


def test_probe_reads_format_size_and_bands(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.webp", size=(30, 20), mode="RGBA", color=(1, 2, 3, 4))
    assert probe(path) == ImageHeader(format="WEBP", width=30, height=20, bands=4)


def test_the_pixel_limit_is_enforced_from_the_header_before_decoding(tmp_path: Path) -> None:
    # The claimed 3000x3000 would take seconds and 36 MB to decode; the IDAT is 64 bytes.
    path = write_huge_header_png(tmp_path / "bomb.png", 3000, 3000)
    started = time.perf_counter()
    with pytest.raises(errors.ImageTooLargeError, match="3000x3000 is 9,000,000 pixels"):
        open_image(path, max_pixels=1_000_000)
    assert time.perf_counter() - started < 0.5


def test_an_image_at_the_pixel_limit_is_accepted(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", size=(50, 20))
    assert open_image(path, max_pixels=1000).image.size == (50, 20)


def test_a_missing_path_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(errors.NotAFileError, match=r"missing\.jpg"):
        open_image(tmp_path / "missing.jpg", max_pixels=BIG)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(errors.NotAFileError, match="is a directory"):
        probe(tmp_path)


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    # NOTE: opening the FIFO would block this test forever; the timeout is the witness.
    with pytest.raises(errors.NotAFileError, match="is a FIFO"):
        open_image(fifo, max_pixels=BIG)
    with pytest.raises(errors.NotAFileError, match="is a FIFO"):
        probe(fifo)


def test_a_device_is_not_a_file() -> None:
    with pytest.raises(errors.NotAFileError, match="is a character device"):
        open_image(Path("/dev/null"), max_pixels=BIG)


def test_a_socket_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(errors.NotAFileError, match="is a socket"):
            open_image(path, max_pixels=BIG)


def test_a_symlink_to_an_image_is_followed(tmp_path: Path) -> None:
    (tmp_path / "link.png").symlink_to(write_image(tmp_path / "a.png"))
    assert open_image(tmp_path / "link.png", max_pixels=BIG).format == "PNG"


def test_the_format_is_found_from_the_content_not_the_extension(tmp_path: Path) -> None:
    path = write_image(tmp_path / "really_a_png.jpg", fmt="PNG")
    assert open_image(path, max_pixels=BIG).format == "PNG"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), errors.UnreadableInputError),
        (OSError(errno.EIO, "Input/output error"), errors.TransientIOError),
        (OSError(errno.EAGAIN, "Try again"), errors.TransientIOError),
        (OSError(errno.ESTALE, "Stale file handle"), errors.TransientIOError),
        (OSError(errno.ETIMEDOUT, "Timed out"), errors.TransientIOError),
        (OSError(errno.ELOOP, "Too many levels of symbolic links"), errors.NotAFileError),
        (OSError("broken data stream when reading image file"), errors.TruncatedImageError),
        (OSError("unsupported BMP compression (9)"), errors.UnsupportedImageError),
        (
            ValueError("Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"),
            errors.ImageTooLargeError,
        ),
        (Image.DecompressionBombWarning("too big"), errors.ImageTooLargeError),
        (SyntaxError("not a TIFF file"), errors.TruncatedImageError),
        (EOFError(), errors.TruncatedImageError),
        (NotImplementedError("no"), errors.UnsupportedImageError),
        (UserWarning("Corrupt EXIF data"), errors.TruncatedImageError),
        (MemoryError(), errors.MemoryLimitError),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), errors.MemoryLimitError),
        (OSError("out of memory error when reading image file"), errors.MemoryLimitError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_decode_errors_are_mapped_by_type_and_content(
    raised: BaseException, expected: type[errors.PixelmillError], tmp_path: Path
) -> None:
    with pytest.raises(errors.PixelmillError) as caught, map_decode_errors(tmp_path / "x.jpg"):
        raise raised
    assert type(caught.value) is expected
    assert caught.value.__cause__ is raised
    assert "x.jpg" in str(caught.value)


def test_an_unexpected_exception_type_is_not_disguised_as_bad_input(tmp_path: Path) -> None:
    with pytest.raises(KeyError), map_decode_errors(tmp_path / "x.jpg"):
        raise KeyError("bug")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_so_images_come_out_upright(
    orientation: int, tmp_path: Path
) -> None:
    path = write_image(
        tmp_path / "o.png",
        size=(60, 40),
        color=BLUE,
        exif_orientation=orientation,
        corner_color=RED,
    )
    opened = open_image(path, max_pixels=BIG)
    assert opened.image.size == (60, 40)
    assert opened.image.getpixel((0, 0)) == RED
    assert opened.image.getpixel((59, 39)) == BLUE
    assert opened.exif["orientation"] == orientation
    assert "exif" not in opened.image.info


def test_a_rotated_jpeg_is_upright_and_keeps_its_source_size(tmp_path: Path) -> None:
    path = write_image(
        tmp_path / "o.jpg", size=(64, 48), color=BLUE, exif_orientation=6, corner_color=RED
    )
    opened = open_image(path, max_pixels=BIG)
    assert opened.image.size == (64, 48)
    assert opened.source_size == (48, 64)
    assert np.allclose(np.asarray(opened.image)[2, 2], RED, atol=12)
    assert np.allclose(np.asarray(opened.image)[44, 60], BLUE, atol=12)


def test_jpeg_draft_decodes_at_the_final_target_size(tmp_path: Path) -> None:
    path = write_photo_like(tmp_path / "big.jpg", (2048, 1536), seed=1)
    assert open_image(path, max_pixels=BIG, draft_size=(256, 256), draft_fit=True).image.size == (
        256,
        192,
    )
    # Covering 256x256 exactly allows only 1/4 on the 1536 side.
    assert open_image(path, max_pixels=BIG, draft_size=(256, 256)).image.size == (512, 384)
    assert open_image(path, max_pixels=BIG).image.size == (2048, 1536)


def test_jpeg_draft_accounts_for_orientation(tmp_path: Path) -> None:
    path = write_image(tmp_path / "o.jpg", size=(1536, 2048), exif_orientation=6)
    opened = open_image(path, max_pixels=BIG, draft_size=(192, 256))
    assert opened.image.size == (192, 256)


def test_a_16_bit_image_is_scaled_not_clipped(tmp_path: Path) -> None:
    levels = np.linspace(0, 65535, 64 * 4).astype(np.uint16).reshape(4, 64)
    path = tmp_path / "deep.png"
    Image.fromarray(levels).save(path)
    opened = open_image(path, max_pixels=BIG)
    assert opened.source_mode.startswith("I")
    assert opened.image.mode == "L"
    pixels = np.asarray(opened.image)
    assert (pixels.min(), pixels.max()) == (0, 255)
    assert pixels[0, 32] == round(levels[0, 32] / 257)


def test_a_float_image_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = write_image(tmp_path / "f.tif", mode="F", color=0.5)
    assert open_image(path, max_pixels=BIG).image.getpixel((0, 0)) == 128


def test_palette_transparency_becomes_alpha(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 1
    image.save(tmp_path / "t.gif")
    opened = open_image(tmp_path / "t.gif", max_pixels=BIG)
    assert opened.image.mode == "RGBA"
    assert np.asarray(opened.image)[0, 0, 3] == 0


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    path = write_image(tmp_path / "c.jpg", mode="CMYK", color=(0, 255, 255, 0))
    opened = open_image(path, max_pixels=BIG)
    assert (opened.source_mode, opened.image.mode) == ("CMYK", "RGB")
    assert np.allclose(np.asarray(opened.image)[5, 5], RED, atol=8)


def test_an_icc_profile_is_kept_for_outputs(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (4, 4)).save(tmp_path / "p.png", icc_profile=icc)
    assert open_image(tmp_path / "p.png", max_pixels=BIG).image.info == {"icc_profile": icc}


def test_exif_basics_are_read_as_json_safe_values(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Acme\x00"
    exif[0x0110] = "Model 1"
    exif[0x829A] = 0.004
    exif[0x8827] = 200
    Image.new("RGB", (8, 8)).save(tmp_path / "e.jpg", exif=exif.tobytes())
    opened = open_image(tmp_path / "e.jpg", max_pixels=BIG)
    assert opened.exif == {"make": "Acme", "model": "Model 1", "exposure_time": 0.004, "iso": 200}


def test_a_multi_frame_gif_gives_its_first_frame_and_leaks_no_descriptor(
    tmp_path: Path, fd_count: Callable[[], int]
) -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in (RED, BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    before = fd_count()
    for _ in range(5):
        image = open_image(tmp_path / "anim.gif", max_pixels=BIG).image
        assert image.getpixel((0, 0)) == RED
    assert fd_count() == before


def test_failures_leak_no_descriptor(broken: dict[str, Path], fd_count: Callable[[], int]) -> None:
    before = fd_count()
    for path in broken.values():
        with pytest.raises(errors.InputError):
            open_image(path, max_pixels=178_956_970)
    assert fd_count() == before
