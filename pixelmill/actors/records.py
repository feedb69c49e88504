"""How a finished item is written down: a full JSON record, a flat CSV row, a summary entry."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pixelmill.errors import InternalError
from pixelmill.imaging.steps import analysis_def

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pixelmill.imaging.steps import Step
    from pixelmill.messages import ItemFinished

__all__ = ["BASE_COLUMNS", "csv_columns", "csv_row", "full_record", "summary_item"]

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


def _path_text(path: str) -> str:
    # Paths are kept as the OS gave them; undecodable bytes survive as escapes.
    return os.fsdecode(path)


def csv_row(record: dict[str, Any], analyses: Iterable[Step]) -> dict[str, Any]:
    """One flat row from a full record: the item, its source, each analysis's scalars."""
    row: dict[str, Any] = {
        "index": record["index"],
        "path": record["path"],
        "status": record["status"],
        "reason": record["reason"] or "",
        "message": record["message"] or "",
        "attempts": record["attempts"],
        "duration_ms": round(record["duration_ms"], 1),
        "outputs": ";".join(record["outputs"]),
    }
    if record["width"] is not None:
        row["width"], row["height"] = record["width"], record["height"]
        row.update({f"source_{key}": value for key, value in (record["source"] or {}).items()})
        for step in analyses:
            measured = record["analyses"].get(step.name)
            if measured is not None:
                row.update(analysis_def(step.name).csv_values(measured))
    return row


def full_record(item: ItemFinished) -> dict[str, Any]:
    """Everything known of the item, histograms included, for `results.jsonl`."""
    result = item.result
    return {
        "index": item.index,
        "path": _path_text(item.path),
        "status": item.status.value,
        "reason": item.reason,
        "message": item.message,
        "attempts": item.attempts,
        "duration_ms": round(item.duration_ms, 1),
        "outputs": list(result.outputs) if result else [],
        "width": result.width if result else None,
        "height": result.height if result else None,
        "source": dict(result.source) if result else None,
        "analyses": dict(result.analyses) if result else {},
    }


def summary_item(record: dict[str, Any]) -> dict[str, Any]:
    """The short entry of an item in `summary.json`, made from its full record."""
    keys = ("index", "path", "status", "reason", "message", "outputs")
    return {key: record[key] for key in keys}
