"""Writes waiting to be committed together, and the transaction that commits them."""

from __future__ import annotations

import contextlib
import itertools
import math
import sqlite3
import time
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pixelmill.store._errors import Doing, sqlite_errors

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Batch", "transaction"]


@contextmanager
def transaction(
    connection: sqlite3.Connection, path: Path, doing: Doing = "write"
) -> Iterator[sqlite3.Connection]:
    """Run the block as one write transaction: commit at its end, roll back if it raises.

    IMMEDIATE takes the write lock at the start, so a second writer waits
    there (up to the connection's timeout) rather than failing at the commit.
    SQLite errors are translated as errors while `doing` (see `sqlite_errors`).
    """
    with sqlite_errors(path, doing):
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                # SQLite rolls most failed statements back itself; a failing
                # rollback must not hide the error that caused it.
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise


class Batch:
    """Statements buffered until `size` of them, or `interval_s` after the first one.

    Not thread-safe: it belongs to one store, used by one thread.
    """

    def __init__(self, size: int, interval_s: float) -> None:
        self._size = size
        self._interval_s = interval_s
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._due_len = size
        self._due_time = math.inf

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, sql: str, params: tuple[Any, ...]) -> bool:
        """Buffer one statement; True when the batch is due to be committed."""
        now = time.monotonic()
        if not self._pending:
            self._due_time = now + self._interval_s
        self._pending.append((sql, params))
        return len(self._pending) >= self._due_len or now >= self._due_time

    def discard(self) -> None:
        """Forget every buffered statement (the store is closing without them)."""
        self._pending.clear()

    def commit(self, connection: sqlite3.Connection, path: Path) -> None:
        """Run every buffered statement, in order, in one transaction.

        On failure the statements stay buffered (each is an upsert, so running
        them again is safe) and the batch is next due a full size or interval
        later, so a full disk is not retried at every write; the error propagates.
        """
        if not self._pending:
            return
        try:
            with transaction(connection, path):
                for sql, group in itertools.groupby(self._pending, key=itemgetter(0)):
                    connection.executemany(sql, [params for _, params in group])
        except BaseException:
            self._due_len = len(self._pending) + self._size
            self._due_time = time.monotonic() + self._interval_s
            raise
        self._pending.clear()
        self._due_len = self._size
        self._due_time = math.inf
