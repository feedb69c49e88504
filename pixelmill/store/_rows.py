"""What the store hands back: frozen rows, and how values are stored and read back."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pixelmill.messages.jobs import ItemStatus

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "COUNT_KEYS",
    "INTERRUPTED",
    "AttemptRow",
    "ItemRow",
    "JobRow",
    "attempt_row",
    "decode_path",
    "encode_path",
    "item_row",
    "job_row",
    "outcome_record",
    "storable_text",
]

INTERRUPTED: Final = "interrupted"
"""The status of a job whose runtime stopped before it finished; a resume may run it."""

COUNT_KEYS: Final = ("total", "done", "failed", "skipped", "cancelled")
"""The keys of a job's counts, as `JobCounts.as_dict` gives them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRow:
    """A job as the store knows it."""

    job_id: str
    name: str
    status: str
    """A `JobStatus` value, or `"interrupted"`."""
    priority: int
    spec: dict[str, Any]
    """The job's description as it was recorded, so that it can be resumed."""
    created_at: float
    """Seconds since the epoch."""
    finished_at: float | None
    reason: str | None
    message: str | None
    counts: dict[str, int]
    """total, done, failed, skipped, cancelled. A finished job's are those it was
    finished with; a running or interrupted job's count the outcomes recorded so
    far (its total is at least their number)."""
    duration_s: float | None
    """From creation to finish; None while the job has not finished."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemRow:
    """The recorded outcome of one item."""

    job_id: str
    index: int
    path: str
    """As the OS gave it: undecodable bytes are surrogate escapes (`os.fsdecode`)."""
    status: ItemStatus
    reason: str | None
    message: str | None
    attempts: int
    duration_ms: float
    outputs: tuple[str, ...]
    result: dict[str, Any] | None
    """`{"width", "height", "source", "analyses"}` when the item was processed."""
    finished_at: float
    """When its outcome was recorded, seconds since the epoch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRow:
    """One failed attempt at an item, recorded before it was retried or given up."""

    job_id: str
    index: int
    attempt: int
    """From 1."""
    reason: str | None
    message: str | None
    at: float
    """Seconds since the epoch."""


def encode_path(path: str) -> bytes:
    """The OS's own bytes of a path: a name need not be UTF-8, and a BLOB keeps any byte."""
    return os.fsencode(path)


def decode_path(stored: bytes) -> str:
    """The path as the OS would give it to Python, the inverse of `encode_path`."""
    return os.fsdecode(stored)


def storable_text(text: str | None) -> str | None:
    """`text` as valid UTF-8 for a TEXT column.

    A message may quote a file name that is not UTF-8; its surrogate escapes
    are kept visible as `\\udcff`, since SQLite's TEXT cannot hold them.
    """
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def job_row(row: sqlite3.Row) -> JobRow:
    """A `JobRow` from a row selected with `_queries.JOB_COLUMNS`."""
    finished_at = row["finished_at"]
    return JobRow(
        job_id=row["job_id"],
        name=row["name"],
        status=row["status"],
        priority=row["priority"],
        spec=json.loads(row["spec_json"]),
        created_at=row["created_at"],
        finished_at=finished_at,
        reason=row["reason"],
        message=row["message"],
        counts={key: row[key] for key in COUNT_KEYS},
        duration_s=None if finished_at is None else finished_at - row["created_at"],
    )


def item_row(row: sqlite3.Row) -> ItemRow:
    """An `ItemRow` from a full row of the items table."""
    result_json = row["result_json"]
    return ItemRow(
        job_id=row["job_id"],
        index=row["idx"],
        path=decode_path(row["path"]),
        status=ItemStatus(row["status"]),
        reason=row["reason"],
        message=row["message"],
        attempts=row["attempts"],
        duration_ms=row["duration_ms"],
        outputs=tuple(json.loads(row["outputs_json"])),
        result=None if result_json is None else json.loads(result_json),
        finished_at=row["finished_at"],
    )


def outcome_record(row: sqlite3.Row) -> dict[str, Any]:
    """The full record of an item, the shape of a `results.jsonl` line."""
    result_json = row["result_json"]
    result: dict[str, Any] = {} if result_json is None else json.loads(result_json)
    source = result.get("source")
    return {
        "index": row["idx"],
        "path": decode_path(row["path"]),
        "status": row["status"],
        "reason": row["reason"],
        "message": row["message"],
        "attempts": row["attempts"],
        "duration_ms": row["duration_ms"],
        "outputs": json.loads(row["outputs_json"]),
        "width": result.get("width"),
        "height": result.get("height"),
        "source": None if source is None else dict(source),
        "analyses": dict(result.get("analyses") or {}),
    }


def attempt_row(row: sqlite3.Row) -> AttemptRow:
    """An `AttemptRow` from a full row of the attempts table."""
    return AttemptRow(
        job_id=row["job_id"],
        index=row["idx"],
        attempt=row["attempt"],
        reason=row["reason"],
        message=row["message"],
        at=row["at"],
    )
