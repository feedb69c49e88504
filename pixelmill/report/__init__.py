"""A job's export as a page people read: `report.html`, and histogram PNGs for `--charts`.

Pure functions over the export's records: no actors, no threads, and only
Pillow, numpy and the standard library. `render_report` reads its records
once, in bounded memory, so `results.jsonl` can be passed line by line
(`write_report` does exactly that); the Exporter instead takes each record into
a digest (`new_digest`) as it writes it, and renders that (`render_digest`).
"""

from __future__ import annotations

from pixelmill.report.charts import write_histogram_chart
from pixelmill.report.files import REPORT_HTML, read_records, write_report
from pixelmill.report.render import (
    FILES_PER_REASON,
    GALLERY_LIMIT,
    new_digest,
    render_digest,
    render_report,
)

__all__ = [
    "FILES_PER_REASON",
    "GALLERY_LIMIT",
    "REPORT_HTML",
    "new_digest",
    "read_records",
    "render_digest",
    "render_report",
    "write_histogram_chart",
    "write_report",
]
