"""The store's reads: plain functions over a connection, shared by writers and readers."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Final, TypeVar

from pixelmill.errors import ConfigError
from pixelmill.messages.jobs import FINAL_STATUSES, ItemStatus
from pixelmill.store._errors import sqlite_errors
from pixelmill.store._rows import (
    INTERRUPTED,
    JobRow,
    RunRow,
    job_row,
    run_row,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from pathlib import Path

__all__ = [
    "find_job",
    "select_jobs",
    "select_runs",
    "stream",
]

T = TypeVar("T")

_LIVE = f"j.status IN ('running', '{INTERRUPTED}')"


def _live_count(status: ItemStatus) -> str:
    count = f"(SELECT count(*) FROM items i WHERE i.job_id = j.job_id AND i.status = '{status}')"
    return f"CASE WHEN {_LIVE} THEN {count} ELSE j.{status} END AS {status}"


# One statement, so a job's counts are read in the same snapshot as the job.
_JOB_COLUMNS: Final = ", ".join(
    [
        "j.job_id, j.name, j.status, j.priority, j.spec_json, j.created_at",
        "j.finished_at, j.reason, j.message, j.owner_host, j.owner_pid, j.owner_started",
        "j.owner_token, j.heartbeat_at, j.runs, j.run_started_at",
        f"CASE WHEN {_LIVE} THEN max(j.total, "
        "(SELECT count(*) FROM items i WHERE i.job_id = j.job_id)) ELSE j.total END AS total",
        *(
            _live_count(status)
            for status in FINAL_STATUSES
        ),
    ]
)

_MAX_CANDIDATES = 10


def select_jobs(connection: sqlite3.Connection, limit: int | None) -> list[JobRow]:
    """Jobs newest first, at most `limit` of them."""
    rows = connection.execute(
        f"SELECT {_JOB_COLUMNS} FROM jobs j ORDER BY j.created_at DESC, j.rowid DESC LIMIT ?",
        (-1 if limit is None else limit,),
    )
    return [job_row(row) for row in rows]


def find_job(connection: sqlite3.Connection, id_or_prefix: str) -> JobRow | None:
    """The job of that exact id or, failing that, the one job whose id starts so.

    Raises:
        ConfigError: `id_or_prefix` is empty, or starts the ids of several jobs
            (the message names them).
    """
    if not id_or_prefix:
        raise ConfigError("a job id (or the start of one) must not be empty")
    select = f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE "
    row = connection.execute(select + "j.job_id = ?", (id_or_prefix,)).fetchone()
    if row is not None:
        return job_row(row)
    # substr, not LIKE: LIKE ignores case and treats % and _ in the prefix as wildcards.
    rows = connection.execute(
        select + "substr(j.job_id, 1, ?) = ? ORDER BY j.job_id LIMIT ?",
        (len(id_or_prefix), id_or_prefix, _MAX_CANDIDATES + 1),
    ).fetchall()
    if len(rows) == 1:
        return job_row(rows[0])
    if not rows:
        return None
    names = ", ".join(row["job_id"] for row in rows[:_MAX_CANDIDATES])
    more = " and more" if len(rows) > _MAX_CANDIDATES else ""
    raise ConfigError(f"job id {id_or_prefix!r} is ambiguous: it starts {names}{more}")


def select_runs(connection: sqlite3.Connection, job_id: str, index: int) -> list[RunRow]:
    """An item's recorded runs, first to last."""
    rows = connection.execute(
        "SELECT * FROM runs WHERE job_id = ? AND idx = ? ORDER BY run", (job_id, index)
    )
    return [run_row(row) for row in rows]


def stream(
    cursor: sqlite3.Cursor, convert: Callable[[sqlite3.Row], T], path: Path
) -> Generator[T, None, None]:
    """Convert the rows of an executed query one at a time, closing the cursor at the end.

    An iterator left unfinished holds its read snapshot until it is closed or
    collected; on a reader that keeps the writer's WAL from being checkpointed.
    """
    try:
        with sqlite_errors(path, "read"):
            for row in cursor:
                yield convert(row)
    finally:
        # The store may have been closed before this iterator was dropped.
        with contextlib.suppress(sqlite3.ProgrammingError):
            cursor.close()
