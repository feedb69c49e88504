"""`render_report`: a job's `report.html` from its summary and a stream of its records."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from pixelmill.report._digest import JobDigest, digest_records
from pixelmill.report._sections import (
    distributions_section,
    gallery_section,
    ignored_section,
    problems_section,
    summary_section,
)
from pixelmill.report._text import esc

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = ["FILES_PER_REASON", "GALLERY_LIMIT", "new_digest", "render_digest", "render_report"]

GALLERY_LIMIT = 200
"""How many done items the gallery shows by default: the lowest indices."""
FILES_PER_REASON = 50
"""How many items each reason group lists by default: the lowest indices."""

# Defence in depth: even if some text escaped escaping, no script, frame, font
# or fetch can run or leave the machine; images are data: URIs, nothing else.
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_report(
    summary: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    *,
    export_dir: Path,
    gallery_limit: int = GALLERY_LIMIT,
    files_per_reason: int = FILES_PER_REASON,
    earlier: Mapping[str, str] | None = None,
) -> str:
    """A self-contained HTML report of one job, as a string.

    The page opens from disk with no network: CSS and SVG charts are inline,
    there is no script and no external font. It shows the summary (name,
    status, reason, times, counts, rate); the failed, skipped and cancelled
    items grouped by reason class; the files the walk of the input
    directories ignored, grouped by reason (the summary's `ignored`);
    histograms of luminance, sharpness (log
    scale) and colour means across the done items; and a gallery of output
    thumbnails, each with its RGB histogram. Every thumbnail is embedded as
    a small JPEG data: URI (at most 30 kB each, 4 MB in all: see
    `thumbnail_for`), so the page shows them when mailed alone; outputs
    inside `export_dir` are also linked at full size by relative path.
    Every name and message is escaped, with undecodable bytes and control
    characters shown as backslash escapes. The returned
    text holds no lone surrogate, so it always encodes as UTF-8.

    Args:
        summary: The job's `summary.json` head: `name`, `job_id`, `status`,
            `reason`, `message`, `started_at`, `finished_at`, `duration_s`
            and `counts`; any missing key is shown as a dash. `items` is not read.
        records: The full records of `results.jsonl`, read once, in any order.
            Memory stays bounded however many there are: only counts, fixed
            bins and the bounded lists below are kept.
        export_dir: The job's export dir, where `report.html` will be written.
        gallery_limit: How many done items the gallery shows (lowest indices).
        files_per_reason: How many items each reason group lists (lowest
            indices); the others are counted.
        earlier: An earlier report's thumbnails (`earlier_thumbnails`), taken
            again for the outputs that did not change since.
    """
    digest = digest_records(records, gallery_limit=gallery_limit, files_per_reason=files_per_reason)
    return render_digest(summary, digest, export_dir=export_dir, earlier=earlier)


def new_digest(
    *, gallery_limit: int = GALLERY_LIMIT, files_per_reason: int = FILES_PER_REASON
) -> JobDigest:
    """An empty digest to `add` a job's records to as they are written, for
    `render_digest` at its end (what `render_report` does in one go)."""
    return digest_records((), gallery_limit=gallery_limit, files_per_reason=files_per_reason)


def render_digest(
    summary: Mapping[str, Any],
    digest: JobDigest,
    *,
    export_dir: Path,
    earlier: Mapping[str, str] | None = None,
) -> str:
    """The report of a job whose records are taken into `digest` already: as
    `render_report`, without reading them again."""
    title = summary.get("name") or summary.get("job_id") or "pixelmill job"
    body = "".join(
        [
            summary_section(summary, digest),
            problems_section(digest),
            ignored_section(summary, digest.files_per_reason),
            distributions_section(digest),
            gallery_section(digest, export_dir, earlier),
            "<footer>Written by pixelmill. Self-contained: no script, no network.</footer>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="generator" content="pixelmill">'
        f"<title>{esc(title)} \u2013 pixelmill report</title>"
        f"<style>{_stylesheet()}</style></head>\n<body><main>{body}</main></body></html>\n"
    )


@cache
def _stylesheet() -> str:
    return resources.files("pixelmill.report").joinpath("report.css").read_text(encoding="utf-8")
