"""The gallery's images: each output embedded as a small JPEG data: URI, within a total budget."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from PIL import Image

from pixelmill.errors import InputError, ResourceError, TransientIOError
from pixelmill.imaging import open_image

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_THUMBNAIL_BYTES",
    "THUMBNAILS_BUDGET_BYTES",
    "THUMBNAIL_BOX",
    "Thumbnail",
    "ThumbnailBudget",
    "earlier_thumbnails",
    "thumbnail_for",
]

THUMBNAIL_BOX = (256, 256)
"""The largest size of an embedded thumbnail: sharp at the gallery's display size
on a high-density screen, and about 10 KiB as a JPEG."""
MAX_THUMBNAIL_BYTES = 30_000
"""The most one thumbnail's data: URI may take; a busier image is encoded again
smaller until it fits."""
THUMBNAILS_BUDGET_BYTES = 4_000_000
"""The most all of a report's thumbnails may take together (200 typical ones take
about 2 MB): past it, an image is linked (inside the export dir) or noted, not embedded."""
_MAX_PIXELS = 100_000_000
_OVER_BUDGET = "not embedded: the report's thumbnails are at their limit"
# Tried in order until the data: URI fits MAX_THUMBNAIL_BYTES.
_ENCODINGS = (((256, 256), 72), ((256, 256), 50), ((192, 192), 50), ((128, 128), 40))
_KEY_VERSION = b"1"
"""Changed whenever the thumbnails are made otherwise, so no earlier one is taken again."""
_EARLIER_MAX_BYTES = 64_000_000
"""An earlier report bigger than this is not read for its thumbnails."""
# A gallery image as `_gallery_item` writes it: its key, then a base64 JPEG only.
_EARLIER_IMAGE = re.compile(
    rb'<img data-key="([0-9a-f]{32})" src="(data:image/jpeg;base64,[A-Za-z0-9+/]+={0,2})"'
)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An `<img src>` for one output, a link to the output itself, or why there is none."""

    src: str | None
    """A `data:image/jpeg;base64,` URI, or None."""
    href: str | None
    """The output at full size, relative to the export dir (percent-encoded), when it
    is inside it: the report links to it there, and keeps working when the whole
    export dir is moved. None for an output elsewhere."""
    note: str = ""
    """Why `src` is None: the output is missing, unreadable or not an image, or the
    report's thumbnail budget is spent."""
    key: str | None = None
    """What `src` was made from: the output's path, size and modification time,
    hashed. A later report of an unchanged output takes `src` again by it."""


class ThumbnailBudget:
    """What one report's thumbnails may still take, in bytes of data: URIs."""

    def __init__(self, total: int | None = None) -> None:
        self.left = THUMBNAILS_BUDGET_BYTES if total is None else total


def thumbnail_for(
    output: str,
    export_dir: Path,
    budget: ThumbnailBudget,
    earlier: Mapping[str, str] | None = None,
) -> Thumbnail:
    """How the report shows `output` (a path as recorded in `results.jsonl`).

    The output is decoded (safely: regular files only, bounded pixels; a JPEG
    is drafted) and embedded as a JPEG of at most `THUMBNAIL_BOX` and
    `MAX_THUMBNAIL_BYTES`, so the report shows it when mailed alone, and a
    200-image gallery loads no full-size image. Its size is taken from
    `budget`; once that is spent, the output is only linked or noted. An
    output inside `export_dir` (after resolving symlinks) is also linked, by
    its path relative to it. A relative `output` is taken as relative to
    `export_dir`. An output that cannot be read gets no image and a note
    saying why; the report is still written. An output whose thumbnail is in
    `earlier` (`earlier_thumbnails`: by key, from an earlier report) is not
    decoded again while its path, size and modification time are unchanged.
    """
    if "\x00" in output:
        return Thumbnail(None, None, note="not shown: the path holds a NUL character")
    path = Path(output)
    base = export_dir.resolve()
    resolved = path.resolve() if path.is_absolute() else (base / path).resolve()
    href = None
    if resolved.is_relative_to(base):
        href = quote(os.fsencode(resolved.relative_to(base).as_posix()), safe="/")
    if budget.left <= 0:
        return Thumbnail(None, href, note=_OVER_BUDGET)
    key = _key(resolved)
    src = None if key is None or earlier is None else earlier.get(key)
    try:
        if src is None:
            src = _embedded(resolved)
    # The boundary of one gallery image: the report outlives an output that went missing.
    except (InputError, ResourceError, TransientIOError) as exc:
        return Thumbnail(None, None, note=f"not shown: {getattr(exc, 'reason', exc)}")
    if len(src) > budget.left:
        budget.left = 0
        return Thumbnail(None, href, note=_OVER_BUDGET)
    budget.left -= len(src)
    return Thumbnail(src, href, key=key)


def earlier_thumbnails(report: Path) -> dict[str, str]:
    """The gallery images of the report at `report`, by key (see `Thumbnail.key`);
    {} when there is none, or it cannot be read, or it is not one pixelmill wrote."""
    try:
        if not report.is_file():  # a FIFO there would block the read
            return {}
        with report.open("rb") as stream:
            page = stream.read(_EARLIER_MAX_BYTES + 1)
    except OSError:
        return {}
    if len(page) > _EARLIER_MAX_BYTES:
        return {}
    return {key.decode(): src.decode() for key, src in _EARLIER_IMAGE.findall(page)}


def _key(path: Path) -> str | None:
    """The output as it is now, hashed; None if it cannot be stat'ed."""
    try:
        info = path.stat()
    except OSError:
        return None
    stamp = b"\0".join(
        (_KEY_VERSION, os.fsencode(path), b"%d" % info.st_size, b"%d" % info.st_mtime_ns)
    )
    return hashlib.blake2b(stamp, digest_size=16).hexdigest()


def _embedded(path: Path) -> str:
    opened = open_image(path, max_pixels=_MAX_PIXELS, draft_size=THUMBNAIL_BOX, draft_fit=True)
    image = opened.image
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")  # palettes, 16-bit, CMYK, ...: resampled in full colour
    image.thumbnail(THUMBNAIL_BOX)
    if image.mode in ("LA", "RGBA"):
        white = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(white, image.convert("RGBA"))
    image = image.convert("RGB")
    for box, quality in _ENCODINGS:
        small = image.copy()
        small.thumbnail(box)
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=quality)
        src = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        if len(src) <= MAX_THUMBNAIL_BYTES:
            break
    return src
