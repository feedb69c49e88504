"""Hostile and unusual input files, each with what pixelmill must make of it.

`write_hostile_corpus(directory)` writes two groups of small files (about
2 MB in all, in well under a second) and returns their expectations:

- *bad* files must each fail as one item with exactly their reason class, at
  once: none makes pixelmill decode more than a few kilobytes of pixels,
  whatever its header claims.
- *good* files must come out right: upright, in the right colours, scaled
  rather than clipped, with their ICC profile.

Choices the expectations encode:

- A multi-frame file gives its first frame (animated GIF, APNG) or page
  (TIFF). Frames are never counted or walked, so a GIF of 100,000 frames, or
  an APNG whose header claims 2**31 - 1 of them, is a *good* file: a frame
  count is no fault of the first frame. A GIF is too large only by its
  logical screen size.
- Transparency is composited onto white: a transparent corner is expected
  white, whatever colour the file stores under it.
- 16-bit grey is scaled by 255/65535, float grey in 0..1 by 255.
- "Unreadable" is a valid PNG with mode 000. Root, or any process with
  CAP_DAC_OVERRIDE, reads it all the same, and no other file is unreadable
  to root without a special file system, so the corpus tries to open it and
  lists it in `readable_anyway` when it could; tests skip it there. A FIFO
  or device is "not a file", never "unreadable".
- A PNG whose IDAT CRC is wrong is corrupt (libpng refuses it), though
  Pillow never checks that CRC. A JPEG far too small to hold the pixels its
  header claims is truncated, though libjpeg fills the rest with grey and
  Pillow reports success. A progressive JPEG of 20,000 scans is unsupported:
  libjpeg would take seconds over its 340 KB.
- A bad file fails alike whether Pillow's warnings are errors (as in the
  test suite) or only shown (as in a worker, which makes only the
  decompression bomb warning an error).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from pixelmill.testing.images import (
    BROKEN_KINDS,
    encoded_photo,
    gif_with_frames,
    gif_with_screen,
    jpeg_claiming,
    marked_image,
    png_chunk,
    png_with_bad_crc,
    png_with_chunk,
    progressive_jpeg_with_scans,
    tiff_with,
    write_huge_header_png,
    write_image,
)

__all__ = [
    "BAD_NAMES",
    "GOOD_NAMES",
    "GoodExpectation",
    "HostileCorpus",
    "write_hostile_corpus",
]

RGB = tuple[int, int, int]
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
_MARKED = (128, 96)
# Lossy sources (JPEG) stray a little from their solid colours.
_JPEG_TOLERANCE = 16
_MANY_FRAMES = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class GoodExpectation:
    """What a good file must come out as."""

    size: tuple[int, int]
    """Upright (width, height), as `open_image` gives it with no pipeline."""
    source_mode: str
    """The mode Pillow decodes: it shows the file is the odd kind it is meant to be."""
    corner: RGB | None = None
    """The colour at (width // 8, height // 8) of the upright image, or of any
    copy scaled to fit, which lies inside a top-left quarter of one colour;
    alpha composited onto white."""
    mean: float | None = None
    """The mean grey level (the `luminance` analysis), where a corner says too little."""
    tolerance: int = 0
    """How far a channel, or the mean, may stray as decoded: JPEG is lossy."""
    icc_profile: bytes | None = None
    """The embedded ICC profile, which every output must carry."""
    notes: str = ""
    """What is odd about the file, and the choice its expectation makes."""


@dataclass(frozen=True, slots=True)
class HostileCorpus:
    """The files `write_hostile_corpus` wrote, each mapped to its expectation."""

    directory: Path
    bad: dict[Path, str]
    """Path -> the dotted reason class its one failure must have (`input.truncated`)."""
    good: dict[Path, GoodExpectation]
    readable_anyway: frozenset[Path] = frozenset()
    """Bad files whose expectation cannot hold for this process (it may read a
    mode-000 file, as root does); tests skip them."""


Writer = Callable[[Path], object]


def _write(data: bytes | Callable[[], bytes]) -> Writer:
    return lambda path: path.write_bytes(data if isinstance(data, bytes) else data())


def _unreadable(path: Path) -> None:
    write_image(path, fmt="PNG")
    path.chmod(0)


_BAD: dict[str, tuple[str, Writer]] = {
    "empty.jpg": ("input.not_image", _write(b"")),
    "random.png": ("input.not_image", _write(np.random.default_rng(3).bytes(4096))),
    "text.jpg": ("input.not_image", _write(b"this is not an image\n")),
    "truncated.jpg": ("input.truncated", BROKEN_KINDS["truncated_jpeg"][1]),
    "truncated.png": ("input.truncated", BROKEN_KINDS["truncated_png"][1]),
    "truncated.webp": ("input.truncated", BROKEN_KINDS["truncated_webp"][1]),
    "bad_header_crc.png": (
        "input.truncated",
        _write(lambda: png_with_bad_crc(encoded_photo("PNG"), b"IHDR")),
    ),
    "bad_data_crc.png": (
        "input.truncated",
        _write(lambda: png_with_bad_crc(encoded_photo("PNG"), b"IDAT")),
    ),
    # A valid zlib header, then a deflate block of the reserved type 3.
    "corrupt_zlib.png": (
        "input.truncated",
        _write(lambda: png_with_chunk(Image.new("RGB", (16, 16)), b"IDAT", b"x\x9c\x07")),
    ),
    "bomb.png": ("input.too_large", lambda p: write_huge_header_png(p, 100_000, 100_000)),
    "bomb_small.jpg": ("input.too_large", _write(lambda: jpeg_claiming(30_000, 30_000))),
    "huge_screen.gif": ("input.too_large", _write(lambda: gif_with_screen(65_535, 65_535))),
    "huge.tif": ("input.too_large", _write(lambda: tiff_with({256: 100_000, 257: 100_000}))),
    # Under every pixel limit, but 700 bytes cannot hold 81 million pixels.
    "claims_more.jpg": ("input.truncated", _write(lambda: jpeg_claiming(9_000, 9_000))),
    "bad_ifd_offset.tif": (
        "input.truncated",
        _write(lambda: tiff_with({}, ifd_offset=0x7FFF_FFF0)),
    ),
    "bad_strip_offset.tif": ("input.truncated", _write(lambda: tiff_with({273: 0x7FFF_FFF0}))),
    "eps.jpg": ("input.unsupported", BROKEN_KINDS["eps"][1]),
    # 300 KB that libjpeg would take seconds over: a pass over the image a scan.
    "scan_bomb.jpg": ("input.unsupported", _write(lambda: progressive_jpeg_with_scans(20_000))),
    "dir.jpg": ("input.not_a_file", lambda p: p.mkdir()),
    "dangling.jpg": ("input.not_a_file", lambda p: p.symlink_to(p.with_name("missing.jpg"))),
    "loop.jpg": ("input.not_a_file", lambda p: p.symlink_to(p.name)),
    "fifo.jpg": ("input.not_a_file", os.mkfifo),
    "unreadable.png": ("input.unreadable", _unreadable),
}

GoodWriter = Callable[[Path], GoodExpectation]


def _marked(
    fmt: str, *, notes: str, tolerance: int = 0, icc_profile: bytes | None = None
) -> GoodWriter:
    """A blue RGB image with a red top-left quarter, with `icc_profile` embedded."""

    def write(path: Path) -> GoodExpectation:
        _marked_rgb().save(path, format=fmt, icc_profile=icc_profile)
        return GoodExpectation(
            size=_MARKED,
            source_mode="RGB",
            corner=RED,
            tolerance=tolerance,
            icc_profile=icc_profile,
            notes=notes,
        )

    return write


def _saved(
    image: Callable[[], Image.Image], fmt: str, expectation: GoodExpectation, **options: object
) -> GoodWriter:
    def write(path: Path) -> GoodExpectation:
        image().save(path, format=fmt, **options)
        return expectation

    return write


def _frames(fmt: str, *, mode: str, notes: str) -> GoodWriter:
    """Two frames (or pages): the marked image, then a green one."""

    def write(path: Path) -> GoodExpectation:
        second = Image.new("RGB", _MARKED, GREEN)
        _marked_rgb().save(path, format=fmt, save_all=True, append_images=[second])
        return GoodExpectation(size=_MARKED, source_mode=mode, corner=RED, notes=notes)

    return write


def _apng_claiming_frames(path: Path) -> GoodExpectation:
    expectation = _frames("PNG", mode="RGB", notes="")(path)
    data = path.read_bytes()
    at = data.index(b"acTL") - 4
    actl = png_chunk(b"acTL", struct.pack(">II", 2**31 - 1, 0))
    path.write_bytes(data[:at] + actl + data[at + len(actl) :])
    notes = "first of 2 frames; acTL claims 2**31 - 1, which is never trusted"
    return dataclasses.replace(expectation, notes=notes)


def _many_frames(path: Path) -> GoodExpectation:
    path.write_bytes(gif_with_frames(_MANY_FRAMES))
    notes = f"first of {_MANY_FRAMES:,} frames, which are never walked"
    return GoodExpectation(size=(1, 1), source_mode="P", corner=RED, notes=notes)


def _orientation(orientation: int) -> GoodWriter:
    size = (192, 128)

    def write(path: Path) -> GoodExpectation:
        write_image(path, size, BLUE, "JPEG", exif_orientation=orientation, corner_color=RED)
        notes = f"stored transposed for EXIF orientation {orientation}; upright {size}"
        return GoodExpectation(
            size=size, source_mode="RGB", corner=RED, tolerance=_JPEG_TOLERANCE, notes=notes
        )

    return write


def _palette_with_transparency() -> Image.Image:
    image = Image.new("P", _MARKED, 1)
    image.putpalette(GREEN + BLUE)
    image.paste(0, (0, 0, _MARKED[0] // 4, _MARKED[1] // 4))
    return image


def _grey16_gradient() -> Image.Image:
    # 256 columns of levels 0, 257, ..., 65535: exactly 0..255 once scaled, mean 127.5.
    row = np.arange(256, dtype=np.uint16) * 257
    return Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (16, 256))))


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _expect(
    mode: str,
    corner: RGB,
    notes: str,
    *,
    mean: float | None = None,
    tolerance: int = 0,
    size: tuple[int, int] = _MARKED,
) -> GoodExpectation:
    return GoodExpectation(
        size=size, source_mode=mode, corner=corner, mean=mean, tolerance=tolerance, notes=notes
    )


_TRANSPARENT = "transparent corner, composited onto white"
_marked_rgb = partial(marked_image, _MARKED, BLUE, corner_color=RED)

_GOOD: dict[str, GoodWriter] = {
    "cmyk.jpg": _saved(
        partial(
            marked_image, _MARKED, (255, 255, 0, 0), mode="CMYK", corner_color=(0, 255, 255, 0)
        ),
        "JPEG",
        _expect("CMYK", RED, "CMYK, converted to RGB", tolerance=_JPEG_TOLERANCE),
    ),
    "progressive.jpg": _saved(
        _marked_rgb,
        "JPEG",
        _expect("RGB", RED, "progressive JPEG", tolerance=_JPEG_TOLERANCE),
        progressive=True,
    ),
    **{f"orientation_{n}.jpg": _orientation(n) for n in range(2, 9)},
    "grey16.png": _saved(
        _grey16_gradient,
        "PNG",
        GoodExpectation(
            size=(256, 16),
            source_mode="I;16",
            mean=127.5,
            tolerance=1,
            notes="16-bit grey gradient, scaled by 255/65535: clipped, the mean is near 255",
        ),
    ),
    "palette_transparent.png": _saved(
        _palette_with_transparency, "PNG", _expect("P", WHITE, _TRANSPARENT), transparency=0
    ),
    "rgba.png": _saved(
        partial(marked_image, _MARKED, (*BLUE, 255), mode="RGBA", corner_color=(*GREEN, 0)),
        "PNG",
        _expect("RGBA", WHITE, _TRANSPARENT),
    ),
    "la.png": _saved(
        partial(marked_image, _MARKED, (60, 255), mode="LA", corner_color=(0, 0)),
        "PNG",
        _expect("LA", WHITE, _TRANSPARENT),
    ),
    "colour_key.png": _saved(
        partial(marked_image, _MARKED, BLUE, corner_color=GREEN),
        "PNG",
        _expect("RGB", WHITE, "tRNS colour key on RGB: " + _TRANSPARENT),
        transparency=GREEN,
    ),
    "bilevel.png": _saved(
        partial(marked_image, _MARKED, 1, mode="1", corner_color=0),
        "PNG",
        _expect("1", BLACK, "1-bit"),
    ),
    "animated.gif": _frames("GIF", mode="P", notes="first of 2 frames"),
    "many_frames.gif": _many_frames,
    "apng_claims_frames.png": _apng_claiming_frames,
    "multipage.tif": _frames("TIFF", mode="RGB", notes="first of 2 pages"),
    "float.tif": _saved(
        partial(marked_image, _MARKED, 0.25, mode="F", corner_color=1.0),
        "TIFF",
        # 0.25 scales to 64 and the corner's 1.0 to 255: mean (15 * 64 + 255) / 16.
        _expect("F", WHITE, "float levels in 0..1 scaled by 255", mean=75.9375, tolerance=1),
    ),
    "one_pixel.png": _saved(
        partial(Image.new, "RGB", (1, 1), RED), "PNG", _expect("RGB", RED, "1x1", size=(1, 1))
    ),
    "strip.png": _saved(
        partial(marked_image, (1, 20_000), BLUE, corner_color=RED),
        "PNG",
        _expect("RGB", RED, "a 1x20000 strip", size=(1, 20_000)),
    ),
    "icc.jpg": _marked(
        "JPEG",
        notes="embedded sRGB profile, carried into outputs",
        tolerance=_JPEG_TOLERANCE,
        icc_profile=_srgb_profile(),
    ),
    "png_named.jpg": _marked("PNG", notes="PNG content named .jpg"),
    "with spaces.png": _marked("PNG", notes="spaces in the name"),
    "ünïcødé 画像.png": _marked("PNG", notes="non-ASCII name"),
    "new\nline.png": _marked("PNG", notes="a newline in the name"),
    "<img src=x onerror=alert(1)>.png": _marked("PNG", notes="markup in the name"),
    os.fsdecode(b"not_utf8_\xff.png"): _marked("PNG", notes="a name that is not UTF-8"),
}

BAD_NAMES = tuple(_BAD)
"""The names of the bad files, in the order written; for test parametrisation."""
GOOD_NAMES = tuple(_GOOD)
"""The names of the good files (one holds a newline, one is not UTF-8)."""


def write_hostile_corpus(directory: Path) -> HostileCorpus:
    """Write every bad and good file into `directory` and return their expectations.

    Deterministic: the same bytes every time. `directory` is created if
    needed and must not hold the corpus already (symlinks, the FIFO and
    `dir.jpg` are not overwritten). Nothing is written elsewhere.
    """
    directory.mkdir(parents=True, exist_ok=True)
    bad: dict[Path, str] = {}
    for name, (reason, write) in _BAD.items():
        write(directory / name)
        bad[directory / name] = reason
    good = {directory / name: write(directory / name) for name, write in _GOOD.items()}
    readable = frozenset(
        path for path, reason in bad.items() if reason == "input.unreadable" and _can_read(path)
    )
    return HostileCorpus(directory=directory, bad=bad, good=good, readable_anyway=readable)


def _can_read(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        return False
    os.close(fd)
    return True
