"""The one place where Pillow's and the OS's exceptions become pixelmill's input errors."""

from __future__ import annotations

import errno
import os
import resource
import struct
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from pixelmill.errors import (
    ImageTooLargeError,
    MemoryLimitError,
    NotAFileError,
    NotAnImageError,
    PixelmillError,
    TransientIOError,
    TruncatedImageError,
    UnreadableInputError,
    UnsupportedImageError,
)
from pixelmill.imaging._regular_file import open_regular_file
from pixelmill.imaging.formats import DEFAULT_FORMATS, identify, known_formats, refusal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["address_space_left", "decode_failure", "map_decode_errors", "sniff"]

_TRANSIENT = frozenset({errno.EIO, errno.EAGAIN, errno.ESTALE, errno.ETIMEDOUT, errno.EINTR})
_NOT_A_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR, errno.ENXIO})
_DENIED = frozenset({errno.EACCES, errno.EPERM})
# Pillow's "out of memory error when reading image file": a decoder's own
# allocation failed (IMAGING_CODEC_MEMORY), not the data.
_OUT_OF_MEMORY = "out of memory"
# What libjpeg, zlib and libwebp failures look like, whether the data is
# corrupt or the decoder's own allocation failed (libjpeg's progressive
# coefficient buffer is 2 bytes a sample of the whole image).
_AMBIGUOUS = ("broken data stream", "could not create decoder object")
# One more full-size buffer of 4 bytes a pixel: more than any of those needs.
_DECODER_BYTES_PER_PIXEL = 4
# The decoders whose failures on the data are RuntimeErrors, by module.
_RUNTIME_ERROR_DECODERS = ("PIL.AvifImagePlugin", "pillow_heif")
# What libheif says of an image past its own size limit.
_TOO_LARGE = "Security limit exceeded"
# Pillow raises plain OSError (no errno) both for corrupt data and for valid
# files that use a feature it lacks; only the message tells them apart.
_UNSUPPORTED_WORDS = (
    "unsupported", "not supported", "unknown raw mode", "not available",
    "cannot find loader",  # a stub format (BUFR, GRIB, HDF5, WMF) with no handler
)
# Signatures that name a format for sure. A file that has one but that no
# allowed format opens is a corrupt file of that format, or one in a format
# not read: never "not an image".
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD"),
    (b"\xffO\xffQ", "JPEG2000"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
    (b"qoif", "QOI"),
    (b"icns", "ICNS"),
    (b"DDS ", "DDS"),
)
_DIB_HEADER_SIZES = frozenset(struct.pack("<I", n) for n in (12, 40, 52, 56, 64, 108, 124))
_AVIF_BRANDS = (b"avif", b"avis")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs")
# Brands of the container that AVIF and HEIC share: the compatible brands tell.
_CONTAINER_BRANDS = (b"mif1", b"msf1")


def sniff(prefix: bytes) -> str | None:
    """The format (Pillow's name) that a file's first bytes (32 are plenty) announce, if any."""
    for magic, name in _SIGNATURES:
        if prefix.startswith(magic):
            return name
    if prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP":
        return "WEBP"
    # "BM" alone starts too many text files; require a known DIB header size too.
    if prefix[:2] == b"BM" and prefix[14:18] in _DIB_HEADER_SIZES:
        return "BMP"
    if prefix[4:8] == b"ftyp":
        brand = prefix[8:12]
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF"
        if brand in _CONTAINER_BRANDS:
            box = prefix[16:int.from_bytes(prefix[:4], "big")]
            return "AVIF" if any(b in box for b in _AVIF_BRANDS) else "HEIF"
    return None


@contextmanager
def map_decode_errors(path: Path, formats: Collection[str] = DEFAULT_FORMATS) -> Iterator[None]:
    """Translate what opening and decoding `path` raises into pixelmill's errors.

    Modelled on httpx's `map_httpcore_exceptions`: every exception of Pillow
    or the OS is re-raised as the most specific pixelmill error, `from` the
    original, with a message that names the file and what was wrong. The
    type alone is not enough: a file that none of `formats` (the ones it was
    opened with) identifies is a corrupt image (`TruncatedImageError`) when
    its signature is one of them; in a format not among them, known by its
    signature or its header, unsupported (`UnsupportedImageError`, naming the
    format and the setting that enables it); and only otherwise "not an
    image" (`NotAnImageError`). Exceptions that are already pixelmill's pass
    through unchanged.

    Running out of memory (`MemoryError`, ENOMEM, a decoder's own allocation
    failure) is `MemoryLimitError`: not the input's fault, and a smaller
    decode may pass. A `UserWarning` raised as an error (when the host's
    warning filters say so) is Pillow reporting corrupt data, such as a bad
    TIFF directory, so it is `TruncatedImageError` too: the same class the
    file gets when the warning is only shown and Pillow goes on to fail.
    """
    try:
        yield
    except PixelmillError:
        raise
    except MemoryError as exc:
        raise MemoryLimitError(f"{path}: out of memory while decoding") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{path}: too many pixels: {exc}") from exc
    except UserWarning as exc:
        raise TruncatedImageError(f"{path}: corrupt image data (Pillow warned: {exc})") from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(path, formats) from exc
    except OSError as exc:
        raise _from_os_error(path, exc) from exc
    except NotImplementedError as exc:
        raise UnsupportedImageError(f"{path}: unsupported image feature: {exc}") from exc
    except ValueError as exc:
        if "too large" in str(exc).lower():
            raise ImageTooLargeError(f"{path}: image data too large: {exc}") from exc
        raise TruncatedImageError(f"{path}: corrupt image data: {exc}") from exc
    except RuntimeError as exc:
        # libavif's and libheif's failures on the data come through Pillow's
        # AVIF plugin and pillow-heif as RuntimeError ("Failed to decode image:
        # ...", "Conversion from YUV failed", "Security limit exceeded: Image
        # size ..."); any other is left alone, as at least as often a bug.
        if not _raised_in(exc, _RUNTIME_ERROR_DECODERS):
            raise
        if _TOO_LARGE in str(exc):
            raise ImageTooLargeError(f"{path}: image too large for its decoder: {exc}") from exc
        raise TruncatedImageError(f"{path}: corrupt image data: {exc}") from exc
    except (SyntaxError, EOFError, struct.error) as exc:
        # Pillow's plugins raise these from their parsers on malformed data.
        # IndexError, KeyError and TypeError are left alone: they are at least
        # as often a bug, and the pipeline reports them as internal errors.
        detail = f"{type(exc).__name__}: {exc}"
        raise TruncatedImageError(f"{path}: corrupt image data ({detail})") from exc


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether a frame of `exc`'s traceback runs in one of `modules` (or below them)."""
    frame = exc.__traceback__
    while frame is not None:
        name = frame.tb_frame.f_globals.get("__name__", "")
        if isinstance(name, str) and name.startswith(modules):
            return True
        frame = frame.tb_next
    return False


def decode_failure(path: Path, exc: OSError, size: tuple[int, int]) -> PixelmillError:
    """The error for `exc`, raised while decoding the pixels of an image of `size`.

    `size` is as stored, even when drafted: libjpeg's buffers for a
    progressive JPEG are full-size whatever the scale it outputs.

    libjpeg, zlib and libwebp report a failed allocation just as they report
    corrupt data. When the address space left (under `RLIMIT_AS`, as workers
    set it) could not hold one more full-size buffer of 4 bytes a pixel, such
    a failure is blamed on memory, `MemoryLimitError`, so that a smaller decode
    is tried; otherwise, and always without a limit, on the data. Any other
    `OSError` is mapped as `map_decode_errors` maps it.
    """
    if exc.errno is None and any(words in str(exc) for words in _AMBIGUOUS):
        left = address_space_left()
        if left is not None and left < size[0] * size[1] * _DECODER_BYTES_PER_PIXEL:
            return MemoryLimitError(
                f"{path}: out of memory while decoding ({left // 2**20} MiB of address "
                f"space left; the decoder said: {exc})"
            )
    return _from_os_error(path, exc)


def address_space_left() -> int | None:
    """Bytes this process may still map under its `RLIMIT_AS`; `None` if unlimited or unknown."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return soft - pages * os.sysconf("SC_PAGE_SIZE")


def _from_os_error(path: Path, exc: OSError) -> PixelmillError:
    if exc.errno is None:
        message = str(exc)
        if _OUT_OF_MEMORY in message:
            return MemoryLimitError(f"{path}: out of memory while decoding: {message}")
        if any(word in message.lower() for word in _UNSUPPORTED_WORDS):
            return UnsupportedImageError(f"{path}: unsupported image: {message}")
        return TruncatedImageError(f"{path}: truncated or corrupt image data: {message}")
    reason = exc.strerror or os.strerror(exc.errno)
    if exc.errno == errno.ENOMEM:
        return MemoryLimitError(f"{path}: out of memory while reading: {reason}")
    if exc.errno in _NOT_A_FILE:
        return NotAFileError(f"{path}: not a readable regular file: {reason}")
    if exc.errno in _DENIED:
        return UnreadableInputError(f"{path}: permission denied: {reason}")
    if exc.errno in _TRANSIENT:
        return TransientIOError(f"{path}: I/O error, may pass on retry: {reason}")
    return UnreadableInputError(f"{path}: cannot read: {reason}")


def _unidentified(path: Path, formats: Collection[str]) -> PixelmillError:
    try:
        with open_regular_file(path) as fp:
            prefix = fp.read(32)
            announced = sniff(prefix)
            if not prefix or announced in formats:
                found = announced
            else:
                others = [fmt for fmt in known_formats() if fmt not in formats]
                found = identify(fp, others) or announced
    except PixelmillError as exc:
        return exc
    except OSError as exc:
        return _from_os_error(path, exc)
    if not prefix:
        return NotAnImageError(f"{path}: empty file, not an image")
    if found is None:
        return NotAnImageError(f"{path}: not an image in any format pixelmill reads")
    if found in formats:
        return TruncatedImageError(f"{path}: has a {found} signature but is corrupt")
    return UnsupportedImageError(f"{path}: {refusal(found)}")
