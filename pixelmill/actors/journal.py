"""The JobManager's record of its jobs in the durable store, and back again.

The store is the truth: what the JobManager's jobs need to go on after it
dies (each item's state and attempts, how each job was asked for) is written
here, so a fresh JobManager takes them up where they were.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any, TypeVar

from pixelmill.errors import ConfigError, PixelmillError
from pixelmill.messages import JobOrder, JobStatus
from pixelmill.store import JobStore
from pixelmill.workers.process import load_plugins

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from pixelmill.messages import ItemRecord, JobFinished
    from pixelmill.store import CacheEntry, FileIdentity, ItemRow, JobRow, Owner, RunRow

__all__ = ["Journal", "stored_order"]

_T = TypeVar("_T")
_COALESCE_MAX = 512
"""Item states held back at most, before they are written anyway."""


def stored_order(data: dict[str, Any], *, job_id: str) -> JobOrder:
    """A stored job's order, validated as when it was first submitted.

    The modules that defined the host's own ops are imported first, so a job
    that uses them resumes in a process that has not imported them yet.

    Raises:
        ConfigError: a step is not valid (or a plugin cannot be imported).
    """
    plugins = tuple(data.get("plugins", ()))
    try:
        load_plugins(plugins)
    except Exception as exc:
        raise ConfigError(f"plugins: cannot load {', '.join(plugins)}: {exc}") from exc
    return JobOrder.from_data(data, job_id=job_id)


class Journal:
    """Writes the Jobs' records to the store, each item's latest state once; a no-op
    without a store.

    An item changes state several times a second on a busy job; only its
    latest state at each flush is written (at most `_COALESCE_MAX` wait),
    so the store costs about one row per item. Everything runs in the
    JobManager's thread (sqlite3 connections belong to the thread that opened
    them). A store error never escapes: it is handed to `on_error` with the
    job it concerns ("" for all), and the JobManager aborts those jobs.
    """

    def __init__(
        self,
        path: Path | None,
        owner: Owner,
        on_error: Callable[[str, PixelmillError], None],
        on_read_error: Callable[[PixelmillError], None] = lambda error: None,
    ) -> None:
        self._path = path
        self._owner = owner
        self._on_error = on_error
        self._on_read_error = on_read_error
        """Told of a cache read that failed (a miss, not a failed job)."""
        self._store: JobStore | None = None
        self._items: dict[tuple[str, int], ItemRow] = {}
        self._runs: dict[tuple[str, int, int], RunRow] = {}

    def open(self) -> None:
        if self._path is not None:
            self._store = JobStore(self._path)

    def close(self, interrupted: list[str]) -> None:
        """Write what waits, mark `interrupted` jobs so (resumable), and close.

        Runs as the JobManager stops: a store error is handed to `on_error`
        (which logs it) and the store is closed anyway.
        """
        if self._store is None:
            return
        self.flush()
        for job_id in interrupted:
            self._write(job_id, functools.partial(JobStore.mark_interrupted, job_id=job_id))
        try:
            self._store.close()
        except PixelmillError as exc:
            self._on_error("", exc)
        self._store = None

    # -- writes ---------------------------------------------------------------

    def job_started(self, order: JobOrder) -> None:
        self._write(order.job_id, lambda store: store.record_job(
            order.job_id, name=order.name, priority=int(order.priority),
            spec=order.to_data(), created_at=time.time(), owner=self._owner,
        ))

    def claim(self, job_id: str) -> JobRow | None:
        """Take a recorded job over for this runtime (None without a store).

        Raises:
            BusyJobError: another live process runs it.
        """
        if self._store is None:
            return None
        self.flush()
        return self._store.claim(job_id, self._owner)

    def record_item(self, row: ItemRow) -> None:
        self._items[row.job_id, row.index] = row
        if len(self._items) >= _COALESCE_MAX:
            self.flush()

    def record_run(self, row: RunRow) -> None:
        self._runs[row.job_id, row.index, row.run] = row

    def job_finished(self, summary: JobFinished) -> None:
        self.flush()
        self._write(summary.job_id, lambda store: store.finish_job(
            summary.job_id, status=summary.status.value, reason=summary.reason,
            message=summary.message, counts=summary.counts.as_dict(),
            finished_at=summary.started_at + summary.duration_s,
        ))

    def heartbeat(self, job_ids: list[str]) -> None:
        self._write("", lambda store: store.heartbeat(job_ids))

    def flush(self) -> None:
        """Write every state held back, and commit."""
        if self._store is None:
            self._items.clear()
            self._runs.clear()
            return
        items, self._items = list(self._items.values()), {}
        runs, self._runs = list(self._runs.values()), {}

        def write(store: JobStore) -> None:
            for row in items:
                store.record_item(row)
            for run in runs:
                store.record_run(run)
            store.flush()

        self._write("", write)

    def _write(self, job_id: str, write: Callable[[JobStore], object]) -> None:
        if self._store is None:
            return
        try:
            write(self._store)
        except PixelmillError as exc:
            self._on_error(job_id, exc)

    # -- the result cache -----------------------------------------------------

    def record_file_hash(self, path: str, identity: FileIdentity) -> None:
        self._write("", lambda store: store.record_file_hash(path, identity))

    def record_cache_entry(self, key: tuple[bytes, str], entry: CacheEntry) -> None:
        self._write("", lambda store: store.record_cache_entry(*key, entry))

    def touch_cache_entries(self, fingerprint: str, hashes: list[bytes]) -> None:
        self._write("", lambda store: store.touch_cache_entries(fingerprint, hashes))

    def trim_cache(self, max_entries: int) -> None:
        self._write("", lambda store: store.trim_cache(max_entries))

    def file_hashes(self, paths: list[str]) -> dict[str, FileIdentity]:
        """What these files hashed to when last seen; {} without a store or on an error."""
        return self._read(lambda store: store.file_hashes(paths), {})

    def cache_entries(self, fingerprint: str, hashes: list[bytes]) -> dict[bytes, CacheEntry]:
        """The cache's entries of the work `fingerprint` on these hashes; {} without a
        store or on an error."""
        return self._read(lambda store: store.cache_entries(fingerprint, hashes), {})

    def _read(self, read: Callable[[JobStore], _T], otherwise: _T) -> _T:
        # A cache that cannot be read is a miss: the work is done again.
        if self._store is None:
            return otherwise
        try:
            return read(self._store)
        except PixelmillError as exc:
            self._on_read_error(exc)
            return otherwise

    # -- reads ----------------------------------------------------------------

    def owned_jobs(self) -> list[JobRow]:
        """The running jobs of this runtime, as an earlier JobManager of it left them."""
        if self._store is None:
            return []
        return [
            row for row in self._store.jobs()
            if row.status == JobStatus.RUNNING and row.owner is not None
            and row.owner.token == self._owner.token
        ]

    def priors(self, job_id: str) -> list[ItemRow]:
        """Every item recorded for the job, as its earlier runs left it."""
        if self._store is None:
            return []
        return list(self._store.items(job_id))

    def replay(self, job_id: str, indices: frozenset[int]) -> Iterator[ItemRecord]:
        """The records of those final items, streamed from a reader of their own.

        Whatever waits is written first, so the reader sees every one of them.
        """
        self.flush()
        if self._path is None:
            return iter(())
        return _stream_records(self._path, job_id, indices)


def _stream_records(path: Path, job_id: str, indices: frozenset[int]) -> Iterator[ItemRecord]:
    with JobStore(path, readonly=True) as reader:
        yield from reader.outcome_records(job_id, indices)
