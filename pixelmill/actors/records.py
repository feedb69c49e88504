"""How an item's record is laid out in the export: a flat CSV row, a summary entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.errors import InternalError
from pixelmill.imaging.steps import analysis_def

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pixelmill.imaging.steps import Step
    from pixelmill.messages import ItemRecord

__all__ = ["BASE_COLUMNS", "csv_columns", "csv_row", "summary_item"]

BASE_COLUMNS = (
    "index",
    "path",
    "status",
    "reason",
    "message",
    "attempts",
    "duration_ms",
    "outputs",
    "width",
    "height",
    "source_format",
    "source_width",
    "source_height",
    "source_mode",
)
"""The columns of every `results.csv`; each analysis adds its own after them."""


def csv_columns(analyses: Iterable[Step]) -> list[str]:
    """The header of a job's CSV, fixed before the first row by its analyses."""
    columns = list(BASE_COLUMNS)
    for step in analyses:
        try:
            named = analysis_def(step.name).csv_columns(step.params)
        except Exception as exc:
            raise InternalError(
                f"analysis {step.name!r}: columns() failed: {type(exc).__name__}: {exc}"
            ) from exc
        columns.extend(c for c in named if c not in columns)
    return columns


def csv_row(record: ItemRecord, analyses: Iterable[Step]) -> dict[str, Any]:
    """One flat row from a record: the item, its source, each analysis's scalars."""
    row: dict[str, Any] = {
        "index": record.index,
        "path": record.path,
        "status": record.status.value,
        "reason": record.reason or "",
        "message": record.message or "",
        "attempts": record.attempts,
        "duration_ms": record.duration_ms,
        "outputs": ";".join(record.outputs),
    }
    if record.width is not None:
        row["width"], row["height"] = record.width, record.height
        row.update({f"source_{key}": value for key, value in (record.source or {}).items()})
        for step in analyses:
            measured = record.analyses.get(step.name)
            if measured is not None:
                row.update(analysis_def(step.name).csv_values(measured))
    return row


def summary_item(record: ItemRecord) -> dict[str, Any]:
    """The short entry of an item in `summary.json`."""
    return {
        "index": record.index, "path": record.path, "status": record.status.value,
        "reason": record.reason, "message": record.message, "outputs": list(record.outputs),
    }
