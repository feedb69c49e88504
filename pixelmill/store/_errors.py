"""Translate sqlite3's errors into pixelmill's, naming the store's file."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from pixelmill.errors import (
    ConfigError,
    NoSpaceError,
    OutputPermissionError,
    PixelmillError,
    TransientIOError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Doing", "sqlite_errors"]

Doing = Literal["open", "read", "write"]
"""What the store was doing: the same SQLite error means a different fault in each."""

# sqlite3 errors carry the extended result code; the primary one is its low byte.
_NOT_A_STORE = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}
_NO_ACCESS = {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM}
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


@contextmanager
def sqlite_errors(path: Path, doing: Doing) -> Iterator[None]:
    """Raise the pixelmill error of a `sqlite3.DatabaseError` raised in the block.

    An error with no translation (a constraint, an SQL mistake: a bug) goes
    through unchanged.
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        translated = _translate(exc, path, doing)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: sqlite3.DatabaseError, path: Path, doing: Doing) -> PixelmillError | None:
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    if code in _NOT_A_STORE:
        return ConfigError(f"{path} is not a pixelmill job store: not SQLite, or corrupt ({exc})")
    if code == sqlite3.SQLITE_FULL:
        return NoSpaceError(f"no space left to write the job store {path} ({exc})")
    if code in _NO_ACCESS:
        if doing == "write":
            return OutputPermissionError(f"cannot write the job store {path} ({exc})")
        return ConfigError(
            f"cannot {doing} the job store {path} ({exc}): its directory must exist "
            "and be writable (set PIXELMILL_STATE to choose another)"
        )
    if code in _BUSY:
        return TransientIOError(f"the job store {path} is locked by another writer ({exc})")
    if code == sqlite3.SQLITE_IOERR:
        return TransientIOError(f"I/O error on the job store {path} ({exc})")
    return None
