"""The durable job store: one writer thread, batched commits, readers anywhere."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pixelmill.errors import BusyJobError, ConfigError
from pixelmill.messages.export import ItemRecord
from pixelmill.messages.jobs import FINAL_STATUSES, ItemStatus, JobStatus
from pixelmill.store import _cache, _queries
from pixelmill.store._batch import Batch, transaction
from pixelmill.store._cache import CacheEntry, CacheStats, FileIdentity
from pixelmill.store._errors import sqlite_errors
from pixelmill.store._owner import Owner
from pixelmill.store._rows import (
    COUNT_KEYS,
    ItemRow,
    JobRow,
    RunRow,
    encode_path,
    item_row,
    outcome_record,
    storable_text,
)
from pixelmill.store._schema import connect
from pixelmill.store._statements import (
    CLAIM_JOB,
    FINISH_JOB,
    HEARTBEAT,
    MARK_INTERRUPTED,
    UPSERT_ITEM,
    UPSERT_JOB,
    UPSERT_RUN,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Container, Generator, Iterator, Mapping, Sequence
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
        self,
        job_id: str,
        *,
        name: str,
        priority: int,
        spec: dict[str, Any],
        created_at: float,
        owner: Owner,
    ) -> None:
        """Record a job as running under `owner`, and commit it (with anything buffered).

        Recording a job again makes it running again under the new owner, one
        run more; it keeps its items, runs and `created_at`, and replaces its
        name, priority and spec. To take over a job safely, `claim` it.

        Raises:
            TypeError: `spec` holds a value JSON cannot (it must be JSON-ready).
        """
        spec_json = _json(spec)
        now = time.time()
        params = (job_id, storable_text(name), priority, spec_json, created_at,
                  *_owner_params(owner), now, now)
        self._buffer(UPSERT_JOB, params)
        self.flush()

    def claim(self, job_id: str, owner: Owner) -> JobRow:
        """Take a recorded job over for `owner` (a resume), and commit: one run more.

        Two processes claiming one job at once are served one after the other
        (the write lock is taken first), so exactly one gets it. `job_id` may
        be a unique prefix.

        Returns:
            The job as it was before the claim.

        Raises:
            ConfigError: no such job, or the id is ambiguous.
            BusyJobError: a live process other than `owner`'s runtime runs it.
        """
        self._check_writable()
        self.flush()
        with transaction(self._connection, self.path) as connection:
            row = _queries.find_job(connection, job_id)
            if row is None:
                raise ConfigError(f"no job {job_id!r} in {self.path}")
            if row.status == JobStatus.RUNNING and row.owner is not None and (
                row.owner.token != owner.token
            ):
                raise BusyJobError(
                    f"job {row.job_id} is already running in {row.owner.describe()}"
                )
            connection.execute(CLAIM_JOB, (*_owner_params(owner), time.time(), row.job_id))
        return row

    def heartbeat(self, job_ids: Sequence[str], at: float | None = None) -> None:
        """Stamp running jobs as alive (buffered: it goes with the next commit)."""
        stamp = time.time() if at is None else at
        for job_id in job_ids:
            self._buffer(HEARTBEAT, (stamp, job_id))

    def record_item(self, row: ItemRow) -> None:
        """Buffer the state of an item; a later one for it replaces this one.

        A final status stamps `finished_at` (the row's own is ignored).

        Raises:
            ConfigError: `status` is not an `ItemStatus` value.
            TypeError: `outputs` is a single string, or `result` is not JSON-ready.
        """
        if isinstance(row.outputs, str):
            raise TypeError(f"outputs must be a sequence of paths, not the string {row.outputs!r}")
        state = _item_status(row.status)
        params = (
            row.job_id,
            row.index,
            encode_path(row.path),
            state.value,
            storable_text(row.reason),
            storable_text(row.message),
            row.attempts,
            row.duration_ms,
            _json(list(row.outputs)),
            None if row.result is None else _json(row.result),
            time.time() if state.final else None,
            row.size,
            row.mtime_ns,
            encode_path(row.stem),
            encode_path(row.rel_dir),
            row.reduce,
            row.runs,
        )
        self._buffer(UPSERT_ITEM, params)

    def record_run(self, run: RunRow) -> None:
        """Buffer one run of an item: at its start, and again when it ends."""
        self._buffer(
            UPSERT_RUN,
            (run.job_id, run.index, run.run, run.attempt, run.job_run, run.started_at,
             run.ended_at, run.status, storable_text(run.reason), storable_text(run.message)),
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
        """Record how a job ended, and commit it with every write buffered before.

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

    # -- the result cache -----------------------------------------------------

    def record_file_hash(self, path: str, identity: FileIdentity) -> None:
        """Buffer what a file's bytes hash to, with what identified it on disk then."""
        self._buffer(_cache.UPSERT_FILE, _cache.file_params(path, identity, time.time()))

    def record_cache_entry(
        self, content_hash: bytes, fingerprint: str, entry: CacheEntry
    ) -> None:
        """Buffer the work done on some bytes; a later one for the same key replaces it."""
        key = (content_hash, fingerprint)
        self._buffer(_cache.UPSERT_ENTRY, _cache.entry_params(key, entry, time.time()))

    def touch_cache_entries(self, fingerprint: str, hashes: Sequence[bytes]) -> None:
        """Buffer hits: the entries are used now (the least recently used go first)."""
        for sql, params in _cache.touches(fingerprint, hashes, time.time()):
            self._buffer(sql, params)

    def file_hashes(self, paths: Sequence[str]) -> dict[str, FileIdentity]:
        """What each of `paths` hashed to when last seen, for those ever hashed.

        Reads what is committed: a hash buffered by this writer is not seen
        (the cache never needs one written in the same turn).
        """
        with self._reading(flush=False):
            return _cache.select_files(self._connection, paths)

    def cache_entries(
        self, fingerprint: str, hashes: Sequence[bytes]
    ) -> dict[bytes, CacheEntry]:
        """The entries of the work `fingerprint` on those content hashes, by hash, for
        those the cache has.

        Reads what is committed, as `file_hashes`.
        """
        with self._reading(flush=False):
            return _cache.select_entries(self._connection, fingerprint, hashes)

    def trim_cache(self, max_entries: int) -> int:
        """Delete the least recently used entries beyond `max_entries`; how many went."""
        self._check_writable()
        self.flush()
        with transaction(self._connection, self.path) as connection:
            return _cache.trim(connection, max_entries)

    def clear_cache(self) -> int:
        """Delete every cache entry and file hash; how many entries went."""
        self._check_writable()
        self.flush()
        with transaction(self._connection, self.path) as connection:
            deleted: int = connection.execute("DELETE FROM cache").rowcount
            connection.execute("DELETE FROM file_hashes")
        return deleted

    def cache_stats(self, recent: int = 10) -> CacheStats:
        """Entries, their size, and how many items of the `recent` last jobs were hits."""
        with self._reading():
            return _cache.stats(self._connection, recent)

    def prune(self, older_than_days: float, now: float | None = None) -> int:
        """Delete jobs that ended, or were left, more than `older_than_days` ago.

        A finished job goes by its finish; an interrupted one (its runtime
        stopped, or died: see `JobRow.status`) by its last sign of life. A job
        still running under a live owner is never deleted, however old. Commits at once,
        after anything buffered.

        Returns:
            How many jobs were deleted, with their items and runs.
        """
        self._check_writable()
        cutoff = (time.time() if now is None else now) - older_than_days * 86_400
        self.flush()
        with transaction(self._connection, self.path) as connection:
            doomed = [
                row.job_id for row in _queries.select_jobs(connection, None)
                if _last_sign(row) < cutoff and row.status != JobStatus.RUNNING
            ]
            for job_id in doomed:
                for table in ("items", "runs", "jobs"):
                    connection.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
            # Work nobody used since the cutoff, and files not seen since, go too.
            connection.execute("DELETE FROM cache WHERE used_at < ?", (cutoff,))
            connection.execute("DELETE FROM file_hashes WHERE seen_at < ?", (cutoff,))
        return len(doomed)

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

    def outcome_records(
        self, job_id: str, indices: Container[int] | None = None
    ) -> Generator[ItemRecord, None, None] | Iterator[ItemRecord]:
        """A job's finished items as their records, by index, so exports can be made
        again. Only final items are given, and of those only `indices` if given.
        Streamed like `items`, from one read snapshot taken when called.
        """
        finals = tuple(status.value for status in FINAL_STATUSES)
        with self._reading():
            cursor = self._connection.execute(
                "SELECT * FROM items WHERE job_id = ? AND status IN "
                f"({', '.join('?' * len(finals))}) ORDER BY idx",
                (job_id, *finals),
            )
        records = _queries.stream(cursor, outcome_record, self.path)
        if indices is None:
            return records
        return (record for record in records if record.index in indices)

    def runs(self, job_id: str, index: int) -> list[RunRow]:
        """An item's recorded runs, first to last."""
        with self._reading():
            return _queries.select_runs(self._connection, job_id, index)

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
    def _reading(self, *, flush: bool = True) -> Iterator[None]:
        self._check_open()
        if flush:
            self.flush()
        with sqlite_errors(self.path, "read"):
            yield


_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""One encoder for every row (`json.dumps` with options makes one per call)."""


def _json(value: Any) -> str:
    # ensure_ascii (the default) spells a surrogate escape out as \udcff, so an
    # undecodable path inside a spec or an output survives the round trip.
    return _COMPACT.encode(value)


def _owner_params(owner: Owner) -> tuple[str, int, float, str]:
    return (owner.host, owner.pid, owner.started, owner.token)


def _last_sign(row: JobRow) -> float:
    """When a job last showed life: its finish, else its heartbeat, else its creation."""
    if row.finished_at is not None:
        return row.finished_at
    return row.heartbeat_at if row.heartbeat_at is not None else row.created_at


def _item_status(status: str) -> ItemStatus:
    try:
        return ItemStatus(status)
    except ValueError:
        allowed = ", ".join(ItemStatus)
        raise ConfigError(f"unknown item status {status!r}: expected one of {allowed}") from None
