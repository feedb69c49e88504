"""Write output images atomically, inside the output directory, never over an input."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from pixelmill.errors import ConfigError, NoSpaceError, UnsupportedImageError
from pixelmill.imaging._modes import flatten, has_alpha, to_working
from pixelmill.imaging._output_paths import (
    OutputTarget,
    make_output_dir,
    output_path,
    refuse_input,
    translate_write_error,
)
from pixelmill.imaging._stages import stage_clock
from pixelmill.imaging.atomic import open_atomic

__all__ = [
    "SAVE_FORMATS", "check_free_space", "output_path", "save_image", "translate_write_error",
]

SAVE_FORMATS = {"jpeg": ("JPEG", "jpg"), "png": ("PNG", "png"), "webp": ("WEBP", "webp")}
"""The `save` op's formats: name -> (Pillow format, file extension)."""

_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383, "PNG": 2**31 - 1}
_ICC_SPACE = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB ", "CMYK": b"CMYK"}


def save_image(
    image: Image.Image,
    *,
    source: Path,
    target: OutputTarget,
    format: str = "jpeg",
    quality: int = 85,
    template: str = "{stem}.{ext}",
    icc_profile: bytes | None = None,
) -> Path:
    """Write `image` atomically and return the path written.

    The image goes to a temporary name in the target directory and is renamed
    into place (`atomic.open_atomic`), so no reader sees half a file; on any
    failure the temporary file is removed. Files are not fsynced: atomic for
    readers, not durable across a power cut. An existing output is replaced;
    an input never is. Alpha is composited onto white for JPEG; no EXIF (so
    no orientation tag) is written; `icc_profile` is embedded when it suits
    the saved mode.
    `quality` applies to JPEG and WebP; PNG is lossless.

    Raises:
        ConfigError: the target has no output directory.
        OutputConflictError: the path would leave the output directory
            (also through a symlink) or is the input file itself.
        OutputMissingError: the output directory itself is gone (its
            subdirectories are created as needed).
        NoSpaceError, OutputPermissionError, OutputError: writing failed.
        UnsupportedImageError: the image is too large for the format.
    """
    if format not in SAVE_FORMATS:
        raise ConfigError(
            f"save: format: expected one of {', '.join(SAVE_FORMATS)}, got {format!r}"
        )
    pillow_format, ext = SAVE_FORMATS[format]
    final = output_path(target, template=template, ext=ext)
    assert target.output_dir is not None  # output_path refuses None
    directory = make_output_dir(Path(target.output_dir), final.parent)
    destination = directory / final.name
    refuse_input(destination, source)
    clock = stage_clock()
    encodable = _encodable(image, pillow_format, source)
    clock.lap("save:prepare")
    options: dict[str, object] = {"icc_profile": _fitting_icc(icc_profile, encodable.mode)}
    if pillow_format != "PNG":
        options["quality"] = quality
    try:
        with open_atomic(destination) as stream:
            encodable.save(stream, format=pillow_format, **options)
    except OSError as exc:
        if exc.errno is not None:
            raise translate_write_error(exc, destination) from exc
        raise
    clock.lap("save:encode")
    return destination


def _encodable(image: Image.Image, pillow_format: str, source: Path) -> Image.Image:
    limit = _MAX_SIDE[pillow_format]
    if max(image.size) > limit:
        raise UnsupportedImageError(
            f"{source}: {image.width}x{image.height} is too large for {pillow_format} "
            f"(at most {limit} pixels a side)"
        )
    working = to_working(image)
    if pillow_format == "JPEG":
        return flatten(working)
    if pillow_format == "WEBP" and working.mode in ("L", "LA"):
        return working.convert("RGBA" if has_alpha(working) else "RGB")
    return working


def _fitting_icc(icc_profile: bytes | None, mode: str) -> bytes | None:
    # A profile for another colour space (an RGB profile on a grey output) is wrong data.
    if icc_profile and icc_profile[16:20] == _ICC_SPACE.get(mode):
        return icc_profile
    return None


def check_free_space(directory: Path, min_free_mb: int) -> None:
    """Stop before a disk is full, not after: a full disk breaks more than one job.

    A directory that cannot be read is left for the write itself to report
    precisely.

    Raises:
        NoSpaceError: `directory`'s disk has less than `min_free_mb` MiB free.
    """
    try:
        free_mb = shutil.disk_usage(directory).free / 2**20
    except OSError:
        return
    if free_mb < min_free_mb:
        raise NoSpaceError(
            f"{directory}: only {free_mb:.0f} MiB free, below the {min_free_mb} MiB reserve"
        )
