"""Open untrusted image files: regular files only, allowed formats, bounded pixels."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from pixelmill.errors import ConfigError, ImageTooLargeError
from pixelmill.imaging._decode_errors import decode_failure, map_decode_errors
from pixelmill.imaging._exif import ORIENTATION_TRANSPOSE, read_exif, read_orientation
from pixelmill.imaging._integrity import check_integrity
from pixelmill.imaging._modes import to_working
from pixelmill.imaging._regular_file import open_regular_file
from pixelmill.imaging._stages import stage_clock
from pixelmill.imaging.fingerprint import digest_of
from pixelmill.imaging.formats import DEFAULT_FORMATS, known_formats, pillow_formats

if TYPE_CHECKING:
    from collections.abc import Collection
    from pathlib import Path

    from PIL.ImageFile import ImageFile

__all__ = [
    "DRAFT_FORMATS",
    "REDUCE_FACTORS",
    "ImageHeader",
    "OpenedImage",
    "ProbedFile",
    "check_reduce",
    "draft_scale",
    "map_decode_errors",
    "open_image",
    "probe",
    "probe_file",
]

_SWAPS_AXES = frozenset({5, 6, 7, 8})
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
"""Formats whose decoder can scale down while decoding (libjpeg DCT scaling)."""
REDUCE_FACTORS = (1, 2, 4, 8)
"""The `reduce` values `open_image` accepts: libjpeg's DCT scales."""
# Image.reduce refuses these modes; they go to a working mode first.
_UNREDUCIBLE_MODES = frozenset({"1", "P", "I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What a file's header says, read without decoding: enough to size a lease."""

    format: str
    width: int
    """As stored, before EXIF orientation."""
    height: int
    bands: int
    """Bands of the stored mode: 3 for RGB, 1 for L, P and 16-bit grey, 4 for CMYK."""
    progressive: bool = False
    """A progressive JPEG: libjpeg then holds every coefficient of the full-size
    image while decoding, whatever scale it outputs."""


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


def probe(path: Path, *, formats: Collection[str] | None = None) -> ImageHeader:
    """Read the header of `path`, without decoding any pixel data.

    Args:
        path: The file.
        formats: The formats it may be in (see `formats.DEFAULT_FORMATS`); None,
            every format a setting may enable, so that the header of a file in
            a format off by default is read too: `open_image`, given the job's
            formats, is what refuses it.

    Raises:
        InputError: a subclass saying why the file is not an image pixelmill
            accepts (see `map_decode_errors`); a truncated file whose header is
            intact passes here and fails in `open_image`.
        TransientIOError: the read failed in a way that may pass on retry.
    """
    allowed = known_formats() if formats is None else formats
    with map_decode_errors(path, allowed), open_regular_file(path) as fp:
        return _header(Image.open(fp, formats=pillow_formats(allowed)))


@dataclass(frozen=True, slots=True)
class ProbedFile:
    """A file's header, and what identifies its bytes: what a worker's probe gives back."""

    header: ImageHeader
    device: int
    inode: int
    size: int
    mtime_ns: int
    """The file's identity on disk when it was opened (`fstat`, before any read)."""
    content_hash: bytes | None = None
    """BLAKE2b of its bytes (`fingerprint.content_hash`), when asked for."""


def probe_file(
    path: Path, *, formats: Collection[str] | None = None, hash_bytes: bool = False
) -> ProbedFile:
    """`probe`, and with `hash_bytes` the hash of the file's bytes, from one open file.

    The header is read first, so bytes that are no image are not hashed; then
    the hash streams through the same descriptor from its start (the header's
    few KiB come again from the page cache, every other byte is read once).
    This is what a worker runs for the JobManager: no untrusted byte is parsed
    in the host process.

    Raises:
        InputError, TransientIOError: as `probe` does; a read failing while
            hashing is mapped the same way.
    """
    allowed = known_formats() if formats is None else formats
    with map_decode_errors(path, allowed), open_regular_file(path) as fp:
        stat = os.fstat(fp.fileno())
        header = _header(Image.open(fp, formats=pillow_formats(allowed)))
        digest = None
        if hash_bytes:
            fp.seek(0)
            digest = digest_of(fp)
    return ProbedFile(header=header, device=stat.st_dev, inode=stat.st_ino,
                      size=stat.st_size, mtime_ns=stat.st_mtime_ns, content_hash=digest)


def _header(image: ImageFile) -> ImageHeader:
    return ImageHeader(
        format=str(image.format),
        width=image.width,
        height=image.height,
        bands=len(image.getbands()),
        progressive=bool(image.info.get("progressive")),
    )


def open_image(
    path: Path,
    *,
    max_pixels: int,
    formats: Collection[str] = DEFAULT_FORMATS,
    draft_size: tuple[int, int] | None = None,
    draft_fit: bool = False,
    reduce: int = 1,
) -> OpenedImage:
    """Decode the first frame of `path` fully, upright and in a working mode.

    The header's pixel count is checked against `max_pixels` before any pixel
    is decoded. Pillow's `DecompressionBombError` (and its warning, when the
    process turns it into an error as workers do) becomes `ImageTooLargeError`
    too; this function does not touch the process-wide warning filters. Data
    corruption that Pillow would decode silently (a PNG's image data failing
    its CRC, a JPEG far too small for its size) is refused as truncated, a
    progressive JPEG of thousands of scans as unsupported (see
    `check_integrity`). Of a multi-frame file only one image is read (the
    first frame; HEIF's primary image; an icon's largest, see
    `formats.DEFAULT_FORMATS`); the other frames are never read, nor counted.

    Args:
        path: The file; only a regular file is opened, never a FIFO or device.
        formats: The formats it may be in, as `formats.check_formats` gives
            them; a file in another fails with `UnsupportedImageError`, naming
            its format and the setting that enables it.
        max_pixels: The most pixels (width x height, as stored) to decode; for
            a JPEG decoded at 1/`reduce` scale, of the smaller size.
        draft_size: The smallest upright (width, height) the pipeline needs.
            For JPEG, libjpeg then decodes at 1/2, 1/4 or 1/8 scale where that
            still covers it (requested as the final target, since Pillow only
            scales when the image is at least twice the box); other formats
            decode at full size.
        draft_fit: `draft_size` is a box the image will be fitted into keeping
            its aspect (a thumbnail), not an exact size to cover (a resize), so
            only the fitted size must be covered.
        reduce: Decode at 1/`reduce` scale (1, 2, 4 or 8), each side rounded
            up, to need less memory: what a retry after running out of memory
            asks for. A JPEG is decoded at that scale (or smaller, when
            `draft_size` allows), so only a JPEG saves decode memory; any
            other format is decoded at full size and reduced (averaging
            `reduce` x `reduce` pixels) before it is turned upright and
            converted, which saves memory from then on. For a JPEG,
            `max_pixels` limits the pixels decoded, ceil(width / reduce) x
            ceil(height / reduce); for other formats, width x height. Pillow's
            own limit (`Image.MAX_IMAGE_PIXELS`, checked on the full size)
            applies either way.

    Raises:
        ConfigError: `reduce` is not 1, 2, 4 or 8.
        InputError: a subclass naming the file and what was wrong with it.
        MemoryLimitError: decoding ran out of memory.
        TransientIOError: the read failed in a way that may pass on retry.
    """
    check_reduce(reduce)
    clock = stage_clock()
    with map_decode_errors(path, formats), open_regular_file(path) as fp:
        image: Image.Image = Image.open(fp, formats=pillow_formats(formats))
        source_format, source_size, source_mode = str(image.format), image.size, image.mode
        drafts = source_format in DRAFT_FORMATS
        _check_pixels(path, source_size, max_pixels, reduce if drafts else 1)
        clock.lap("open")
        check_integrity(path, fp.fileno(), image)
        clock.lap("integrity")
        if drafts:
            box = _draft_box(source_size, draft_size, read_orientation(image), fit=draft_fit)
            box = _reduce_box(source_size, reduce, box)
            if box is not None:
                image.draft(None, box)
        try:
            image.load()
        except OSError as exc:
            raise decode_failure(path, exc, source_size) from exc
        clock.lap("decode")
        exif = read_exif(image)
        clock.lap("exif")
        # Rebinding `image` frees each stage as the next is made: at most two
        # full copies are alive at once (estimate_memory_mb counts on it).
        target = (math.ceil(source_size[0] / reduce), math.ceil(source_size[1] / reduce))
        image = _reduced(image, target)
        image = _upright(image, exif.get("orientation", 1))
        image = to_working(image)
        clock.lap("orient/convert")
    icc = image.info.get("icc_profile")
    image.info = {"icc_profile": icc} if icc else {}
    return OpenedImage(
        image=image,
        format=source_format,
        source_size=source_size,
        source_mode=source_mode,
        exif=exif,
    )


def check_reduce(reduce: int) -> None:
    """Raise `ConfigError` unless `reduce` is one of `REDUCE_FACTORS`."""
    if type(reduce) is not int or reduce not in REDUCE_FACTORS:
        raise ConfigError(f"reduce: expected 1, 2, 4 or 8, got {reduce!r}")


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int, reduce: int) -> None:
    width, height = size
    decoded = math.ceil(width / reduce) * math.ceil(height / reduce)
    if decoded > max_pixels:
        scaled = f" decoded at 1/{reduce} scale" if reduce > 1 else ""
        raise ImageTooLargeError(
            f"{path}: {width}x{height}{scaled} is {decoded:,} pixels, "
            f"over the limit of {max_pixels:,}"
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
    source_size: tuple[int, int],
    draft_size: tuple[int, int] | None,
    orientation: int,
    *,
    fit: bool,
) -> tuple[int, int] | None:
    if draft_size is None:
        return None
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


def _reduce_box(
    source_size: tuple[int, int], reduce: int, box: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The draft box that also asks libjpeg for at least 1/`reduce` scale."""
    if reduce == 1:
        return box
    # Pillow drafts at the largest scale s with source // box >= s on both axes.
    reduced = (max(1, source_size[0] // reduce), max(1, source_size[1] // reduce))
    return reduced if box is None else (min(box[0], reduced[0]), min(box[1], reduced[1]))


def _reduced(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """`image` reduced by whole factors to fit `target`; itself when it already fits."""
    # ceil(w / ceil(w / t)) <= t: the result never exceeds the target.
    factors = (math.ceil(image.width / target[0]), math.ceil(image.height / target[1]))
    if factors == (1, 1):
        return image
    if image.mode in _UNREDUCIBLE_MODES:
        image = to_working(image)
    return image.reduce(factors)


def _upright(image: Image.Image, orientation: Any) -> Image.Image:
    method = ORIENTATION_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)
