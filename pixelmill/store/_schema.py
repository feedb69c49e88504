"""The store's tables, their forward migrations, and opening a connection to them."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from pixelmill.errors import ConfigError
from pixelmill.store._batch import transaction
from pixelmill.store._errors import sqlite_errors

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SCHEMA_VERSION", "connect"]

_V1 = """
CREATE TABLE jobs (
    job_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    spec_json   TEXT NOT NULL,
    created_at  REAL NOT NULL,
    finished_at REAL,
    reason      TEXT,
    message     TEXT,
    total       INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_finished ON jobs (status, finished_at);

CREATE TABLE items (
    job_id       TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    path         BLOB NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    message      TEXT,
    attempts     INTEGER NOT NULL,
    duration_ms  REAL NOT NULL,
    outputs_json TEXT NOT NULL,
    result_json  TEXT,
    finished_at  REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX items_by_status ON items (job_id, status, idx);

CREATE TABLE attempts (
    job_id  TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    reason  TEXT,
    message TEXT,
    at      REAL NOT NULL,
    PRIMARY KEY (job_id, idx, attempt)
) WITHOUT ROWID;
"""

_V2 = """
ALTER TABLE jobs ADD COLUMN owner_host TEXT;
ALTER TABLE jobs ADD COLUMN owner_pid INTEGER;
ALTER TABLE jobs ADD COLUMN owner_started REAL;
ALTER TABLE jobs ADD COLUMN owner_token TEXT;
ALTER TABLE jobs ADD COLUMN heartbeat_at REAL;
ALTER TABLE jobs ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN run_started_at REAL;

CREATE TABLE items_v2 (
    job_id       TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    path         BLOB NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    message      TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    duration_ms  REAL NOT NULL DEFAULT 0,
    outputs_json TEXT NOT NULL DEFAULT '[]',
    result_json  TEXT,
    finished_at  REAL,
    size         INTEGER,
    mtime_ns     INTEGER,
    stem         TEXT,
    rel_dir      TEXT NOT NULL DEFAULT '',
    reduce       INTEGER NOT NULL DEFAULT 1,
    runs         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO items_v2 (job_id, idx, path, status, reason, message, attempts, duration_ms,
                      outputs_json, result_json, finished_at)
    SELECT job_id, idx, path, status, reason, message, attempts, duration_ms,
           outputs_json, result_json, finished_at FROM items;
DROP TABLE items;
ALTER TABLE items_v2 RENAME TO items;
CREATE INDEX items_by_status ON items (job_id, status, idx);

CREATE TABLE runs (
    job_id     TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    run        INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    job_run    INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL,
    status     TEXT,
    reason     TEXT,
    message    TEXT,
    PRIMARY KEY (job_id, idx, run)
) WITHOUT ROWID;
INSERT INTO runs (job_id, idx, run, attempt, job_run, started_at, ended_at, status, reason,
                  message)
    SELECT job_id, idx, attempt, attempt, 1, at, at, 'failed', reason, message FROM attempts;
DROP TABLE attempts;
"""
"""Version 2: jobs know their owner and heartbeat, and how often they were run; items
keep their state on the way (not only their outcome) and what identifies their input;
every start of an item is a row of `runs`, its outcome filled in when it ends."""

_V3 = """
ALTER TABLE jobs ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cache (
    content_hash BLOB NOT NULL,
    fingerprint  TEXT NOT NULL,
    result_json  TEXT NOT NULL,
    outputs_json TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    used_at      REAL NOT NULL,
    hits         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (content_hash, fingerprint)
) WITHOUT ROWID;
CREATE INDEX cache_by_use ON cache (used_at);

CREATE TABLE file_hashes (
    path         BLOB PRIMARY KEY,
    device       INTEGER NOT NULL,
    inode        INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    seen_at      REAL NOT NULL
) WITHOUT ROWID;
"""
"""Version 3: the result cache (work done, by the input's bytes and the work's
fingerprint) and the identity of files already hashed; jobs count cached items."""

_BUSY_TIMEOUT_S: Final = 5.0
"""How long a writer waits for another writer's lock."""

_MIGRATIONS: Final = (_V1, _V2, _V3)
"""`_MIGRATIONS[n]` takes a store from schema version n to n + 1; append, never edit."""

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The `PRAGMA user_version` of a store this pixelmill writes."""


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open the store at `path`, creating or migrating it unless `readonly`.

    The connection is in autocommit mode (the caller opens its transactions)
    and bound to the calling thread. A writer turns WAL on, so readers in
    other threads or processes read while it writes, and waits up to 5 s for
    another writer's lock.

    Raises:
        ConfigError: the file is missing (readonly), is not SQLite, is corrupt,
            is another program's database or a newer pixelmill's, or its
            directory cannot be written.
    """
    if readonly and not path.is_file():
        raise ConfigError(f"no job store at {path}: no job has been recorded there yet")
    if not readonly and not path.parent.is_dir():
        raise ConfigError(f"cannot create the job store {path}: {path.parent} is not a directory")
    # A URI of the raw bytes keeps a non-UTF-8 directory name intact.
    uri = f"file:{quote(os.fsencode(path.absolute()))}?mode={'ro' if readonly else 'rwc'}"
    with sqlite_errors(path, "open"):
        connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S,
                                     isolation_level=None)
    try:
        with sqlite_errors(path, "open"):
            if readonly:
                _check_version(connection, path, _version(connection))
            else:
                # NORMAL in WAL mode survives a crash of the process, not of the
                # machine: a power cut may lose the last commits, never corrupt.
                _turn_wal_on(connection)
                connection.execute("PRAGMA synchronous = NORMAL")
                _migrate(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def _turn_wal_on(connection: sqlite3.Connection) -> None:
    """Put the store in WAL mode (it stays so, in the file).

    Changing the journal mode of a new store needs it to itself, and SQLite
    answers "database is locked" at once, without the busy timeout, while
    another connection opening it at the same moment holds a lock: so wait
    here, as the timeout would, for up to 5 s.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def _check_version(connection: sqlite3.Connection, path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"the job store {path} has schema version {version}, written by a newer "
            f"pixelmill; this one knows versions up to {SCHEMA_VERSION}"
        )
    if version == 0:
        what = "another program's SQLite database" if _has_tables(connection) else "empty"
        raise ConfigError(f"{path} is not a pixelmill job store: it is {what}")
    if version < SCHEMA_VERSION:
        raise ConfigError(
            f"the job store {path} has the old schema version {version}: "
            "open it once for writing to migrate it"
        )


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    # IMMEDIATE takes the write lock first, so two writers opening a new store
    # at once migrate it once: the second then sees the first's version.
    with transaction(connection, path, "open"):
        version = _version(connection)
        if version > SCHEMA_VERSION or (version == 0 and _has_tables(connection)):
            _check_version(connection, path, version)
        for script in _MIGRATIONS[version:]:
            for statement in filter(str.strip, script.split(";")):
                connection.execute(statement)
        # user_version lives in the file header: it commits with the tables.
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _has_tables(connection: sqlite3.Connection) -> bool:
    return bool(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
