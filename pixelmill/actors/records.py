"""How a finished item is written down: a flat CSV row, a full JSON record, a summary entry."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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
        columns.extend(c for c in analysis_def(step.name).columns(step.params) if c not in columns)
    return columns


def _path_text(path: str) -> str:
    # Paths are kept as the OS gave them; undecodable bytes survive as escapes.
    return os.fsdecode(path)


def csv_row(item: ItemFinished, analyses: Iterable[Step]) -> dict[str, Any]:
    """One flat row: the item, its source, and each analysis's scalar columns."""
    row: dict[str, Any] = {
        "index": item.index,
        "path": _path_text(item.path),
        "status": item.status.value,
        "reason": item.reason or "",
        "message": item.message or "",
        "attempts": item.attempts,
        "duration_ms": round(item.duration_ms, 1),
    }
    result = item.result
    if result is not None:
        row["outputs"] = ";".join(result.outputs)
        row["width"], row["height"] = result.width, result.height
        row.update({f"source_{key}": value for key, value in result.source.items()})
        for step in analyses:
            measured = result.analyses.get(step.name)
            if measured is not None:
                row.update(analysis_def(step.name).flatten(measured))
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
