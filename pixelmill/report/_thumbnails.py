"""The gallery's images: each output embedded as a small JPEG data: URI, within a total budget."""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from pixelmill.errors import InputError, ResourceError, TransientIOError
from pixelmill.imaging import open_image

__all__ = [
    "MAX_THUMBNAIL_BYTES",
    "THUMBNAILS_BUDGET_BYTES",
    "THUMBNAIL_BOX",
    "Thumbnail",
    "ThumbnailBudget",
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


class ThumbnailBudget:
    """What one report's thumbnails may still take, in bytes of data: URIs."""

    def __init__(self, total: int | None = None) -> None:
        self.left = THUMBNAILS_BUDGET_BYTES if total is None else total


def thumbnail_for(output: str, export_dir: Path, budget: ThumbnailBudget) -> Thumbnail:
    """How the report shows `output` (a path as recorded in `results.jsonl`).

    The output is decoded (safely: regular files only, bounded pixels; a JPEG
    is drafted) and embedded as a JPEG of at most `THUMBNAIL_BOX` and
    `MAX_THUMBNAIL_BYTES`, so the report shows it when mailed alone, and a
    200-image gallery loads no full-size image. Its size is taken from
    `budget`; once that is spent, the output is only linked or noted. An
    output inside `export_dir` (after resolving symlinks) is also linked, by
    its path relative to it. A relative `output` is taken as relative to
    `export_dir`. An output that cannot be read gets no image and a note
    saying why; the report is still written.
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
    try:
        src = _embedded(resolved)
    # The boundary of one gallery image: the report outlives an output that went missing.
    except (InputError, ResourceError, TransientIOError) as exc:
        return Thumbnail(None, None, note=f"not shown: {getattr(exc, 'reason', exc)}")
    if len(src) > budget.left:
        budget.left = 0
        return Thumbnail(None, href, note=_OVER_BUDGET)
    budget.left -= len(src)
    return Thumbnail(src, href)


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
