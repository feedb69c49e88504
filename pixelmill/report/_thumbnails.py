"""Where a gallery image comes from: a relative link inside the export dir, or a small data: URI."""

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

__all__ = ["THUMBNAIL_BOX", "Thumbnail", "thumbnail_for"]

THUMBNAIL_BOX = (256, 256)
"""The largest size of an embedded thumbnail: sharp at the gallery's display size
on a high-density screen, and about 10 KiB as a JPEG."""
_MAX_PIXELS = 100_000_000
_QUALITY = 72


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """An `<img src>` for one output, or why there is none."""

    src: str | None
    """A relative URL (percent-encoded) or a `data:image/jpeg;base64,` URI."""
    linked: bool
    """`src` is the output file itself, worth linking to at full size."""
    note: str = ""
    """Why `src` is None: the output is missing, unreadable or not an image."""


def thumbnail_for(output: str, export_dir: Path) -> Thumbnail:
    """How the report shows `output` (a path as recorded in `results.jsonl`).

    An output inside `export_dir` (after resolving symlinks) is referenced by
    its path relative to it, so the report keeps working when the whole
    export dir is moved or archived, and costs no bytes. Any other output is
    decoded (safely: regular files only, bounded pixels) and embedded as a
    JPEG of at most `THUMBNAIL_BOX`, since a relative link leading out of the
    export dir would break as soon as it is moved. A relative `output` is
    taken as relative to `export_dir`. An output that cannot be read gets no
    image and a note saying why; the report is still written.
    """
    if "\x00" in output:
        return Thumbnail(src=None, linked=False, note="not shown: the path holds a NUL character")
    path = Path(output)
    base = export_dir.resolve()
    resolved = path.resolve() if path.is_absolute() else (base / path).resolve()
    if resolved.is_relative_to(base):
        relative = os.fsencode(resolved.relative_to(base).as_posix())
        return Thumbnail(src=quote(relative, safe="/"), linked=True)
    try:
        return Thumbnail(src=_embedded(resolved), linked=False)
    # The boundary of one gallery image: the report outlives an output that went missing.
    except (InputError, ResourceError, TransientIOError) as exc:
        return Thumbnail(src=None, linked=False, note=f"not shown: {getattr(exc, 'reason', exc)}")


def _embedded(path: Path) -> str:
    opened = open_image(path, max_pixels=_MAX_PIXELS, draft_size=THUMBNAIL_BOX, draft_fit=True)
    image = opened.image
    image.thumbnail(THUMBNAIL_BOX)
    if image.mode in ("LA", "RGBA"):
        white = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(white, image.convert("RGBA"))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
