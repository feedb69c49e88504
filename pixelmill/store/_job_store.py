"""The durable job store: one writer thread, batched commits, readers anywhere."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pixelmill.errors import ConfigError
from pixelmill.messages.jobs import ItemStatus, JobStatus
from pixelmill.store import _queries
from pixelmill.store._batch import Batch, transaction
from pixelmill.store._errors import sqlite_errors
from pixelmill.store._rows import (
    COUNT_KEYS,
    AttemptRow,
    ItemRow,
    JobRow,
    encode_path,
    item_row,
    outcome_record,
    storable_text,
)
from pixelmill.store._schema import connect
from pixelmill.store._statements import (
    FINISH_JOB,
    MARK_INTERRUPTED,
    PRUNABLE,
    UPSERT_ATTEMPT,
    UPSERT_JOB,
    UPSERT_OUTCOME,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Generator, Iterator, Mapping, Sequence
    from types import TracebackType

__all__ = ["STORE_FILE", "JobStore"]

STORE_FILE = "jobs.sqlite3"
"""The store's file name inside the state directory."""

_FINISHED = tuple(status.value for status in JobStatus if status is not JobStatus.RUNNING)


class JobStore:
    """Jobs, their items' outcomes and failed attempts, in one SQLite file (WAL mode).

    One writer at a time: the JobManager opens its store in its own actor
    thread. Readers (the CLI, `Runtime.jobs()`) open their own instance with
    `readonly=True`, in any thread or process, and read while it writes.
    An instance is bound to the thread that opened it (sqlite3 raises
    `ProgrammingError` in any other) and needs no lock.

    Writes are buffered and committed as one transaction every `batch_size`
    records, or at the first write once `batch_interval_s` has passed since
    the first buffered one (there is no timer thread: call `flush` when idle),
    and on `flush`, `close`, `record_job`, `finish_job` and `mark_interrupted`.
    Until then no reader sees them; a writer's own reads flush first (and so
    may raise what a commit raises). Every write is an upsert, so a batch
    whose commit failed stays buffered and is tried again at the next turn.
    A write on a readonly store raises `io.UnsupportedOperation`, any use of
    a closed one `ValueError`, as files do.

    Paths are stored as the OS's bytes (`os.fsencode`, a BLOB) and read back
    with `os.fsdecode`: any file name survives, whatever its bytes. Free text
    (names, reasons, messages) is stored as UTF-8, undecodable escapes spelt out.

    Raises:
        ConfigError: (when opened) the file is missing (readonly), not a store,
            corrupt, from a newer pixelmill, or its directory cannot be written.
        NoSpaceError: (on a commit) the disk is full.
        OutputPermissionError: (on a commit) the file may no longer be written.
        TransientIOError: (on a commit) another writer held the lock for 5 s,
            or an I/O error.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        batch_size: int = 200,
        batch_interval_s: float = 0.5,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        if not batch_interval_s >= 0:
            raise ConfigError(f"batch_interval_s must be at least 0, not {batch_interval_s}")
        self.path = Path(path)
        """The store's file."""
        self.readonly = readonly
        """Opened to read only: every write raises `io.UnsupportedOperation`."""
        self._batch = Batch(batch_size, batch_interval_s)
        self._closed = False
        self._connection = connect(self.path, readonly=readonly)
        self._connection.row_factory = sqlite3.Row

    @classmethod
    def in_dir(cls, state_dir: str | os.PathLike[str], *, readonly: bool = False) -> JobStore:
        """The store of a state directory (see `state_dir`), in its file `jobs.sqlite3`.

        Batches take their default size and interval; for others, open
        `JobStore(Path(state_dir) / STORE_FILE, ...)`.
        """
        return cls(Path(state_dir) / STORE_FILE, readonly=readonly)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "writer"
        return f"<JobStore {mode} {self.path}{' closed' if self._closed else ''}>"

    # -- writes ---------------------------------------------------------------

    def record_job(
        self, job_id: str, *, name: str, priority: int, spec: dict[str, Any], created_at: float
    ) -> None:
        """Record a job as running, and commit it (with anything buffered).

        Recording a job again (a resume) makes it running again, keeps its
        items, attempts and `created_at`, and replaces its name, priority and spec.

        Raises:
            TypeError: `spec` holds a value JSON cannot (it must be JSON-ready).
        """
        spec_json = _json(spec)
        self._buffer(UPSERT_JOB, (job_id, storable_text(name), priority, spec_json, created_at))
        self.flush()

    def record_outcome(
        self,
        job_id: str,
        index: int,
        *,
        path: str,
        status: str,
        reason: str | None = None,
        message: str | None = None,
        attempts: int = 0,
        duration_ms: float = 0.0,
        outputs: Sequence[str] = (),
        result: dict[str, Any] | None = None,
    ) -> None:
        """Buffer the outcome of item `index`; a later one for it replaces this one.

        Args:
            status: An `ItemStatus` value.
            result: `{"width", "height", "source", "analyses"}`, JSON-ready; None
                when the item was not processed.

        Raises:
            ConfigError: `status` is not an `ItemStatus` value.
            TypeError: `outputs` is a single string, or `result` is not JSON-ready.
        """
        if isinstance(outputs, str):
            raise TypeError(f"outputs must be a sequence of paths, not the string {outputs!r}")
        row = (
            job_id,
            index,
            encode_path(path),
            _item_status(status),
            storable_text(reason),
            storable_text(message),
            attempts,
            duration_ms,
            _json(list(outputs)),
            None if result is None else _json(result),
            time.time(),
        )
        self._buffer(UPSERT_OUTCOME, row)

    def record_attempt(
        self,
        job_id: str,
        index: int,
        attempt: int,
        *,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """Buffer a failed attempt at item `index`; recording the same attempt again replaces it."""
        self._buffer(
            UPSERT_ATTEMPT,
            (job_id, index, attempt, storable_text(reason), storable_text(message), time.time()),
        )

    def finish_job(
        self,
        job_id: str,
        *,
        status: str,
        reason: str | None = None,
        message: str | None = None,
        counts: Mapping[str, int],
        finished_at: float,
    ) -> None:
        """Record how a job ended, and commit it with every outcome buffered before.

        Args:
            status: A `JobStatus` value other than `running`.
            counts: Any of total, done, failed, skipped, cancelled; missing ones are 0.

        Raises:
            ConfigError: `status` is not a finished `JobStatus`, or `counts` has
                another key.
        """
        if status not in _FINISHED:
            raise ConfigError(
                f"a job cannot finish as {status!r}: expected one of {', '.join(_FINISHED)}"
            )
        unknown = set(counts) - set(COUNT_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown count {', '.join(sorted(unknown))}: expected {', '.join(COUNT_KEYS)}"
            )
        number = tuple(int(counts.get(key, 0)) for key in COUNT_KEYS)
        text = (storable_text(reason), storable_text(message))
        self._buffer(FINISH_JOB, (str(status), *text, finished_at, *number, job_id))
        self.flush()

    def mark_interrupted(self, job_id: str) -> None:
        """Mark a running job `interrupted` (a finished one stays as it is), and commit."""
        self._buffer(MARK_INTERRUPTED, (job_id,))
        self.flush()

    def flush(self) -> None:
        """Commit every buffered write in one transaction; a no-op when none is.

        On failure the writes stay buffered and the error propagates; the next
        attempt comes at `flush`, or when a full batch or interval has passed.
        """
        self._batch.commit(self._connection, self.path)

    def prune(self, older_than_days: float, now: float | None = None) -> int:
        """Delete jobs finished more than `older_than_days` ago, with their items and attempts.

        A running or interrupted job is never deleted, however old. Commits
        at once, after anything buffered.

        Returns:
            How many jobs were deleted.
        """
        self._check_writable()
        cutoff = (time.time() if now is None else now) - older_than_days * 86_400
        self.flush()
        with transaction(self._connection, self.path) as connection:
            for table in ("items", "attempts"):
                connection.execute(f"DELETE FROM {table} WHERE job_id IN ({PRUNABLE})", (cutoff,))
            deleted: int = connection.execute(
                f"DELETE FROM jobs WHERE job_id IN ({PRUNABLE})", (cutoff,)
            ).rowcount
        return deleted

    def close(self) -> None:
        """Commit what is buffered and close; closing again does nothing.

        The connection is closed even when the last commit fails; that error
        then propagates and the writes it held are lost.
        """
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._batch.discard()
            self._connection.close()

    # -- reads ----------------------------------------------------------------

    def jobs(self, limit: int | None = None) -> list[JobRow]:
        """Jobs newest first (by `created_at`), at most `limit` of them."""
        with self._reading():
            return _queries.select_jobs(self._connection, limit)

    def job(self, job_id: str) -> JobRow | None:
        """The job of that id, or of the one id that starts with it; None if none does.

        Raises:
            ConfigError: the id is empty, or starts several jobs' ids (named in
                the message).
        """
        with self._reading():
            return _queries.find_job(self._connection, job_id)

    def items(self, job_id: str, status: str | None = None) -> Generator[ItemRow, None, None]:
        """A job's recorded items by index, those of one `ItemStatus` if given.

        Rows are read as the iterator advances; exhaust or close it, since it
        holds a read snapshot until then.

        Raises:
            ConfigError: `status` is not an `ItemStatus` value.
        """
        with self._reading():
            if status is None:
                cursor = self._connection.execute(
                    "SELECT * FROM items WHERE job_id = ? ORDER BY idx", (job_id,)
                )
            else:
                cursor = self._connection.execute(
                    "SELECT * FROM items WHERE job_id = ? AND status = ? ORDER BY idx",
                    (job_id, _item_status(status)),
                )
        return _queries.stream(cursor, item_row, self.path)

    def finished_paths(self, job_id: str) -> set[str]:
        """The paths a resume must not run again: items done, failed or skipped.

        Cancelled items never ran, so a resume runs them.
        """
        with self._reading():
            return _queries.finished_paths(self._connection, job_id)

    def outcome_records(self, job_id: str) -> Generator[dict[str, Any], None, None]:
        """A job's items as full records, by index, so exports can be made again.

        Each has exactly: index, path, status, reason, message, attempts,
        duration_ms (as recorded, not rounded), outputs (a list), and width,
        height, source (None when the item was not processed) and analyses
        (`{}` then). Streamed like `items`.
        """
        with self._reading():
            cursor = self._connection.execute(
                "SELECT * FROM items WHERE job_id = ? ORDER BY idx", (job_id,)
            )
        return _queries.stream(cursor, outcome_record, self.path)

    def attempts(self, job_id: str, index: int) -> list[AttemptRow]:
        """An item's recorded failed attempts, first to last."""
        with self._reading():
            return _queries.select_attempts(self._connection, job_id, index)

    # -- internals ------------------------------------------------------------

    def _buffer(self, sql: str, params: tuple[Any, ...]) -> None:
        self._check_writable()
        if self._batch.add(sql, params):
            self.flush()

    def _check_writable(self) -> None:
        self._check_open()
        if self.readonly:
            raise io.UnsupportedOperation(f"the job store {self.path} is open read-only")

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the job store {self.path} is closed")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        self._check_open()
        self.flush()
        with sqlite_errors(self.path, "read"):
            yield


def _json(value: Any) -> str:
    # ensure_ascii (the default) spells a surrogate escape out as \udcff, so an
    # undecodable path inside a spec or an output survives the round trip.
    return json.dumps(value, separators=(",", ":"))


def _item_status(status: str) -> str:
    try:
        return ItemStatus(status).value
    except ValueError:
        allowed = ", ".join(ItemStatus)
        raise ConfigError(f"unknown item status {status!r}: expected one of {allowed}") from None
