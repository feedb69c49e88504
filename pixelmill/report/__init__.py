"""A job's export as a page people read: `report.html`, and histogram PNGs for `--charts`.

Pure functions over the export's records: no actors, no threads, and only
Pillow, numpy and the standard library. `render_report` reads its records
once, in bounded memory, so the Exporter can pass it `results.jsonl` line by
line at job close (`write_report` does exactly that).
"""

from __future__ import annotations

from pixelmill.report.charts import write_histogram_chart
from pixelmill.report.files import REPORT_HTML, read_records, write_report
from pixelmill.report.render import FILES_PER_REASON, GALLERY_LIMIT, render_report

__all__ = [
    "FILES_PER_REASON",
    "GALLERY_LIMIT",
    "REPORT_HTML",
    "read_records",
    "render_report",
    "write_histogram_chart",
    "write_report",
]
