"""`report.html` beside a job's export files: records read line by line, written atomically."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pixelmill.imaging.atomic import open_atomic
from pixelmill.messages.export import REPORT_HTML, RESULTS_JSONL, SUMMARY_JSON
from pixelmill.report._thumbnails import earlier_thumbnails
from pixelmill.report.render import GALLERY_LIMIT, render_digest, render_report

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from pixelmill.report._digest import JobDigest

__all__ = ["REPORT_HTML", "read_records", "write_report"]


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a `results.jsonl`, one line at a time; blank lines are skipped.

    The file stays open while the iterator is consumed and is closed when it
    is exhausted or garbage-collected.

    Raises:
        json.JSONDecodeError: A line is not JSON (a file cut short mid-write).
        OSError: The file cannot be read.
    """
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def write_report(
    export_dir: Path,
    summary: Mapping[str, Any] | None = None,
    *,
    gallery_limit: int = GALLERY_LIMIT,
    digest: JobDigest | None = None,
) -> Path:
    """Render the report of a finished export dir into `report.html` there; return its path.

    Reads `results.jsonl` line by line (and `summary.json` when `summary` is
    not given), so memory does not grow with the number of items. The page
    is written under a temporary name and renamed into place: a reader sees
    the previous report or the new one, never half of one. The previous
    report's gallery images are taken again for the outputs unchanged since
    (same path, size and modification time): a re-run decodes none of them.

    Args:
        export_dir: A job's export dir holding `results.jsonl`.
        summary: The job's summary, as written to `summary.json`; read from
            there when None.
        gallery_limit: How many done items the gallery shows.
        digest: The records taken in as they were written (`new_digest`):
            `results.jsonl` is then not read, and `gallery_limit` is the digest's.

    Raises:
        OSError: A file cannot be read, or the report cannot be written.
        json.JSONDecodeError: `summary.json` or a record is not JSON.
    """
    if summary is None:
        summary = json.loads((export_dir / SUMMARY_JSON).read_text(encoding="utf-8"))
    target = export_dir / REPORT_HTML
    earlier = earlier_thumbnails(target)
    if digest is not None:
        page = render_digest(summary, digest, export_dir=export_dir, earlier=earlier)
    else:
        page = render_report(
            summary,
            read_records(export_dir / RESULTS_JSONL),
            export_dir=export_dir,
            gallery_limit=gallery_limit,
            earlier=earlier,
        )
    with open_atomic(target) as stream:
        stream.write(page.encode("utf-8"))
    return target
