"""Which image formats pixelmill reads: the default list, the names settings use, what a file is.

Formats are named as Pillow names them (`Image.open(...).format`): "JPEG",
"PNG", "HEIF" (HEIC files, through pillow-heif), "JPEG2000". A setting may
also name a format by a file extension ("jpg", "heic", "tif", "ps").
"""

from __future__ import annotations

import difflib
import functools
import struct
from collections.abc import Callable, Collection, Iterable
from typing import IO

import pillow_heif
from PIL import Image

from pixelmill.errors import ConfigError

__all__ = [
    "DEFAULT_FORMATS",
    "OFF_BY_DEFAULT",
    "SNIFF_BYTES",
    "UNREADABLE",
    "accepted_format",
    "check_formats",
    "extensions_of",
    "format_of_extension",
    "identify",
    "known_formats",
    "pillow_formats",
    "refusal",
]

DEFAULT_FORMATS = (
    "JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF",
    "BLP", "CUR", "DCX", "DDS", "DIB", "FITS", "FLI", "FTEX", "GBR", "ICNS", "ICO",
    "JPEG2000", "MCIDAS", "MSP", "PCX", "PIXAR", "PPM", "PSD", "QOI", "SGI", "SUN",
    "XBM", "XPM", "XVTHUMB",
    # Last: these have no signature to check, so Pillow tries their header
    # parser on every file that reaches them.
    "IMT", "PCD", "SPIDER", "TGA",
)
"""The formats pixelmill reads unless `[input] formats` (or a job's `formats`) says otherwise.

Every format Pillow 13 decodes by itself, in this process, plus HEIF (HEIC
files) through pillow-heif; AVIF is Pillow's own. Off by default, each for the
reason given in `OFF_BY_DEFAULT`: EPS/PS, IPTC, IM, MPEG, and the stubs BUFR,
GRIB, HDF5 and WMF/EMF. PDF is never read (`UNREADABLE`).

A multi-frame file is read as one image: GIF, APNG, TIFF, MPO, FLI, DCX,
animated WebP and AVIF by their first frame, HEIF by its primary image, and
the icon formats (ICO, ICNS, CUR) by their largest image. A multi-picture
JPEG (MPO) comes through "JPEG" and reports itself as "MPO".

Listed common formats first: Pillow tries them in this order.
"""

OFF_BY_DEFAULT = {
    "EPS": "Pillow runs Ghostscript, an external program, to decode EPS and PostScript",
    "IPTC": "its decoder opens the embedded image in any format Pillow knows, EPS included",
    "IM": "deprecated in Pillow 13, removed in Pillow 15",
    "MPEG": "Pillow reads an MPEG stream's header but never its pixels",
    "BUFR": "Pillow decodes it only through a handler the host registers",
    "GRIB": "Pillow decodes it only through a handler the host registers",
    "HDF5": "Pillow decodes it only through a handler the host registers",
    "WMF": "Pillow decodes WMF/EMF only on Windows or through a handler the host registers",
}
"""Formats Pillow opens that pixelmill reads only when a setting lists them, and why."""

UNREADABLE = {
    "PDF": "Pillow writes PDF files but cannot read them",
}
"""Formats a file may be in that no setting enables: pixelmill has no decoder for them."""

# Every Pillow plugin, imported now (about 40 ms of CPU): the fork server
# imports this module, so its workers start with them, and a directory walk
# needs their extensions anyway. HEIF's opener is registered on first use.
Image.init()

_HEIF_EXTENSIONS = (".heic", ".heics", ".heif", ".heifs", ".hif")
_ORDER = {name: rank for rank, name in enumerate((*DEFAULT_FORMATS, *OFF_BY_DEFAULT))}
# What Pillow's own loop catches from a header parser that does not match.
_NOT_THIS_FORMAT = (SyntaxError, IndexError, TypeError, KeyError, ValueError, EOFError,
                    OSError, struct.error, NotImplementedError)


@functools.cache
def known_formats() -> tuple[str, ...]:
    """Every format a setting may enable: those this Pillow opens, and HEIF; in trial order."""
    return _ordered({*Image.OPEN, "HEIF"})


def check_formats(value: object, *, key: str = "formats") -> tuple[str, ...]:
    """`value`, a list of format names or extensions, as Pillow's names in trial order.

    Names are read in any case, and a file extension stands for its format
    ("jpg" is JPEG, "heic" is HEIF, "ps" is EPS). Duplicates are dropped.

    Raises:
        ConfigError: one line naming `key` and what is wrong, e.g. `input.formats:
            unknown image format 'jpge' (did you mean 'JPEG'?)`.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(f"{key}: expected a list of image format names, got {value!r}")
    names = list(value)
    if not names:
        raise ConfigError(f"{key}: expected at least one image format, got an empty list")
    known, aliases = set(known_formats()), _aliases()
    chosen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"{key}: expected image format names, got {name!r}")
        spelled = name.strip().lstrip(".").upper()
        fmt = aliases.get(spelled, spelled)
        if fmt == "MPO":
            raise ConfigError(f"{key}: MPO (multi-picture JPEG) is read as JPEG: list 'JPEG'")
        if fmt in UNREADABLE:
            raise ConfigError(f"{key}: {fmt} cannot be enabled: {UNREADABLE[fmt]}")
        if fmt not in known:
            raise ConfigError(f"{key}: unknown image format {name!r}{_suggestion(spelled)}")
        chosen.add(fmt)
    return _ordered(chosen)


def pillow_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """`formats` as `Image.open(formats=...)` takes them: HEIF's opener registered if listed.

    Registering pillow-heif's opener is process-wide; it happens on first use,
    not at import, so that a host's Pillow is left alone until pixelmill reads
    a file.
    """
    listed = tuple(formats)
    if "HEIF" in listed:
        _register_heif()
    # A name Pillow does not have makes Image.open raise KeyError.
    return tuple(fmt for fmt in listed if fmt in Image.OPEN)


def extensions_of(formats: Iterable[str]) -> frozenset[str]:
    """The file extensions (".jpg", lower case) that Pillow registers for `formats`.

    HEIF's are known without registering pillow-heif; a listed JPEG brings ".mpo".
    """
    wanted = set(formats)
    found = {ext for ext, fmt in Image.registered_extensions().items() if fmt in wanted}
    if "HEIF" in wanted:
        found.update(_HEIF_EXTENSIONS)
    if "JPEG" in wanted:
        found.add(".mpo")
    return frozenset(ext.lower() for ext in found)


SNIFF_BYTES = 16
"""How much of a file's start a signature check reads: what `Image.open` reads for it."""


def accepted_format(prefix: bytes, candidates: Iterable[str]) -> str | None:
    """The first of `candidates` whose signature `prefix` (a file's first bytes) carries.

    Only signatures are checked, as Pillow's accept functions check them (and
    pillow-heif's, without registering its opener): nothing is parsed, so it
    is safe on untrusted bytes in any process. A format without a signature
    (TGA, SPIDER, PCD, IMT, IM, IPTC) is never sniffed; a weak one (PPM's
    "P6") may take a file that then fails as `input.not_image` in a worker.
    """
    for fmt in _ordered(set(candidates)):
        if fmt == "HEIF":
            if pillow_heif.is_supported(prefix[:SNIFF_BYTES]):
                return fmt
            continue
        opener = Image.OPEN.get(fmt)
        if opener is not None and opener[1] is not None and _accepts(opener[1], prefix):
            return fmt
    return None


def format_of_extension(suffix: str) -> str | None:
    """The format a file extension (".jpg", any case) names, as settings read it; None if none."""
    return _aliases().get(suffix.lstrip(".").upper()) if suffix else None


def identify(fp: IO[bytes], candidates: Iterable[str]) -> str | None:
    """The first of `candidates` whose header parser takes the file `fp`; `None` if none does.

    Only headers are parsed, as `Image.open` does: no pixel is decoded, so
    Ghostscript never runs for an EPS file. Leaves `fp`'s position anywhere.
    """
    fp.seek(0)
    prefix = fp.read(SNIFF_BYTES)
    for fmt in pillow_formats(candidates):
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not _accepts(accept, prefix):
            continue
        fp.seek(0)
        try:
            factory(fp, "")
        except Warning:
            return fmt  # a parser that got far enough to warn (IM: deprecated)
        except _NOT_THIS_FORMAT:
            continue
        return fmt
    return None


def _accepts(accept: Callable[[bytes], bool | str], prefix: bytes) -> bool:
    # An accept function may return a string: Pillow's "support not installed";
    # on a short prefix some raise, as under Pillow's own loop.
    try:
        accepted = accept(prefix)
    except _NOT_THIS_FORMAT:
        return False
    return not isinstance(accepted, str) and bool(accepted)


def refusal(fmt: str) -> str:
    """Why a file in `fmt` is not read, and the setting that would read it: for messages."""
    if fmt in UNREADABLE:
        return f"{fmt} file: {UNREADABLE[fmt]}, and no formats setting enables it"
    if fmt in OFF_BY_DEFAULT:
        why = f"{fmt} is off by default ({OFF_BY_DEFAULT[fmt]})"
    else:
        why = f"{fmt} is not among the formats this job reads"
    return (
        f"{fmt} image: {why}; add \"{fmt}\" to formats ([input] formats in the "
        "config, or the job's formats) to read it"
    )


def _ordered(formats: Collection[str]) -> tuple[str, ...]:
    rest = len(_ORDER)
    return tuple(sorted(formats, key=lambda fmt: (_ORDER.get(fmt, rest), fmt)))


@functools.cache
def _aliases() -> dict[str, str]:
    """Upper-case extension (no dot) -> format, for the formats a setting may name."""
    extensions = dict(Image.registered_extensions())
    extensions.update(dict.fromkeys(_HEIF_EXTENSIONS, "HEIF"))
    return {ext.lstrip(".").upper(): fmt for ext, fmt in extensions.items()}


def _suggestion(spelled: str) -> str:
    names = sorted({*known_formats(), *_aliases()})
    close = difflib.get_close_matches(spelled, names, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known_formats())})"


@functools.cache
def _register_heif() -> None:
    pillow_heif.register_heif_opener()
