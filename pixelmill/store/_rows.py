"""What the store hands back: frozen rows, and how values are stored and read back."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pixelmill.messages.export import ItemRecord
from pixelmill.messages.jobs import ItemStatus, JobStatus
from pixelmill.store._owner import Owner

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "COUNT_KEYS",
    "INTERRUPTED",
    "ItemRow",
    "JobRow",
    "RunRow",
    "decode_path",
    "encode_path",
    "item_row",
    "job_row",
    "outcome_record",
    "run_row",
    "storable_text",
]

INTERRUPTED: Final = "interrupted"
"""The status of a job whose runtime stopped, or died, before it finished; a resume may
run it."""

COUNT_KEYS: Final = ("total", "done", "cached", "failed", "skipped", "cancelled")
"""The keys of a job's counts, as `JobCounts.as_dict` gives them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRow:
    """A job as the store knows it."""

    job_id: str
    name: str
    status: str
    """A `JobStatus` value, or `"interrupted"`: a job recorded as running whose
    owner is gone reads as interrupted."""
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
    owner: Owner | None = None
    """The runtime that runs (or last ran) the job; None for a job of an older store."""
    heartbeat_at: float | None = None
    """When its owner last stamped it alive, seconds since the epoch."""
    runs: int = 1
    """How many times a runtime took the job up: 1, then one more per resume."""
    run_started_at: float | None = None
    """When its latest run (the first, or a resume) started, seconds since the epoch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemRow:
    """The recorded outcome of one item."""

    job_id: str
    index: int
    path: str
    """As the OS gave it: undecodable bytes are surrogate escapes (`os.fsdecode`)."""
    status: ItemStatus
    """Final (`done`, ...) or on its way (`running`, ...)."""
    reason: str | None = None
    """Why it ended so; while `deciding`, the failure being decided on."""
    message: str | None = None
    attempts: int = 0
    """Attempts counted against the recovery policy, the current one included."""
    duration_ms: float = 0.0
    outputs: tuple[str, ...] = ()
    result: dict[str, Any] | None = None
    """`{"width", "height", "source", "analyses"}` when the item was processed."""
    finished_at: float | None = None
    """When its final status was recorded, seconds since the epoch; None before."""
    size: int | None = None
    """The input's size in bytes when it was found; None if it could not be read."""
    mtime_ns: int | None = None
    """The input's modification time when it was found."""
    stem: str = ""
    """The name its outputs are given (unique within `rel_dir`); any bytes, as paths."""
    rel_dir: str = ""
    """Where its outputs go, relative to the output dir."""
    reduce: int = 1
    """The decode scale divisor a `Degrade` decision set."""
    runs: int = 0
    """How many times it was started in a worker (see `RunRow`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One start of an item in a worker, and how that run ended."""

    job_id: str
    index: int
    run: int
    """From 1: every start counts, a retry's and a re-run after a crash alike."""
    attempt: int
    """The attempt, as the recovery policy counts them, this run belonged to."""
    job_run: int
    """The run of the job it happened in (`JobRow.runs` at the time)."""
    started_at: float
    ended_at: float | None = None
    status: str | None = None
    """`done`, `failed` (this run failed: see reason), `lost` (its answer never came:
    the process or an actor died), or None while it runs."""
    reason: str | None = None
    message: str | None = None


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


def _name(stored: bytes | str | None) -> str:
    # Stored as the OS's bytes, like paths; a store migrated from version 1 has none.
    if stored is None:
        return ""
    return decode_path(stored) if isinstance(stored, bytes) else stored


def job_row(row: sqlite3.Row) -> JobRow:
    """A `JobRow` from a row selected with `_queries.JOB_COLUMNS`; a running job whose
    owner is gone is `interrupted`."""
    finished_at = row["finished_at"]
    owner = None
    if row["owner_pid"] is not None:
        owner = Owner(host=row["owner_host"], pid=row["owner_pid"],
                      started=row["owner_started"], token=row["owner_token"])
    status = row["status"]
    if status == JobStatus.RUNNING and (owner is None or not owner.alive(row["heartbeat_at"])):
        status = INTERRUPTED
    return JobRow(
        job_id=row["job_id"],
        name=row["name"],
        status=status,
        priority=row["priority"],
        spec=json.loads(row["spec_json"]),
        created_at=row["created_at"],
        finished_at=finished_at,
        reason=row["reason"],
        message=row["message"],
        counts={key: row[key] for key in COUNT_KEYS},
        duration_s=None if finished_at is None else finished_at - row["created_at"],
        owner=owner,
        heartbeat_at=row["heartbeat_at"],
        runs=row["runs"],
        run_started_at=row["run_started_at"],
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
        size=row["size"],
        mtime_ns=row["mtime_ns"],
        stem=_name(row["stem"]),
        rel_dir=_name(row["rel_dir"]),
        reduce=row["reduce"],
        runs=row["runs"],
    )


def outcome_record(row: sqlite3.Row) -> ItemRecord:
    """The record of a finished item, as `results.jsonl` holds it."""
    result_json = row["result_json"]
    result: dict[str, Any] = {} if result_json is None else json.loads(result_json)
    return ItemRecord(
        index=row["idx"],
        path=decode_path(row["path"]),
        status=ItemStatus(row["status"]),
        reason=row["reason"],
        message=row["message"],
        attempts=row["attempts"],
        duration_ms=row["duration_ms"],
        outputs=tuple(json.loads(row["outputs_json"])),
        width=result.get("width"),
        height=result.get("height"),
        source=result.get("source"),
        analyses=dict(result.get("analyses") or {}),
    )


def run_row(row: sqlite3.Row) -> RunRow:
    """A `RunRow` from a full row of the runs table."""
    return RunRow(
        job_id=row["job_id"],
        index=row["idx"],
        run=row["run"],
        attempt=row["attempt"],
        job_run=row["job_run"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=row["status"],
        reason=row["reason"],
        message=row["message"],
    )
