"""Read pixelmill's JSON-lines logs back: stream, filter, follow, summarise, render.

The library side of `pixelmill logs`. A log line is one JSON object
(`pixelmill.runtime.log_writer` writes them); a line that is not one (a torn last line after a
crash, garbage) is skipped and counted, never fatal.
"""

from __future__ import annotations

from pixelmill.logs._read import (
    LEVELS,
    ErrorGroup,
    JobTimeline,
    LogFilter,
    LogPaths,
    LogReader,
    LogRecord,
    LogSummary,
    SlowItem,
    follow,
    parse_time,
    read_records,
    render_records,
    render_summary,
    resolve_job,
    summarize,
)

__all__ = [
    "LEVELS",
    "ErrorGroup",
    "JobTimeline",
    "LogFilter",
    "LogPaths",
    "LogReader",
    "LogRecord",
    "LogSummary",
    "SlowItem",
    "follow",
    "parse_time",
    "read_records",
    "render_records",
    "render_summary",
    "resolve_job",
    "summarize",
]
