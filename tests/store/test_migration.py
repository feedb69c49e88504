"""A store written by pixelmill's schema version 1, opened by this one."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from pixelmill.errors import ConfigError
from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import INTERRUPTED, SCHEMA_VERSION, ItemRow, JobStore, RunRow
from tests.store._records import OWNER, RESULT, record_state

if TYPE_CHECKING:
    from pathlib import Path

# A frozen copy of version 1's tables, as released: the migration must take
# exactly these, whatever `_schema._V1` may become.
_V1_TABLES = """
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

_ODD_PATH = "/in/caf\udce9.jpg"


@pytest.fixture
def v1_store(store_path: Path) -> Path:
    """A version-1 store: a finished job, a job left running, their items and attempts."""
    item = "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    with closing(sqlite3.connect(store_path)) as connection:
        connection.executescript(_V1_TABLES)
        connection.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("old", "holiday", "completed", 1, '{"inputs":["a"]}', 100.0, 160.0,
             None, None, 2, 1, 1, 0, 0),
        )
        connection.execute(
            "INSERT INTO jobs (job_id, name, status, priority, spec_json, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("left", "left running", "running", 2, '{"inputs":["b"]}', 200.0),
        )
        connection.execute(
            item,
            ("old", 0, os.fsencode(_ODD_PATH), "done", None, None, 2, 12.5,
             '["/out/0.png"]', json.dumps(RESULT), 150.0),
        )
        connection.execute(
            item,
            ("old", 1, b"/in/1.jpg", "failed", "worker.crashed", "died", 3, 40.0, "[]",
             None, 155.0),
        )
        connection.execute(
            item, ("left", 0, b"/in/2.jpg", "done", None, None, 1, 5.0, "[]", None, 210.0)
        )
        connection.executemany(
            "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("old", 0, 1, "io.transient", "first", 120.0),
                ("old", 1, 1, "worker.crashed", "died once", 130.0),
                ("old", 1, 2, "worker.crashed", "died twice", 140.0),
            ],
        )
        connection.execute("PRAGMA user_version = 1")
        connection.commit()
    return store_path


def _user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
        return version


def test_a_reader_of_a_version_1_store_is_told_to_migrate_it(v1_store: Path) -> None:
    with pytest.raises(ConfigError, match="old schema version 1: open it once for writing"):
        JobStore(v1_store, readonly=True)

    assert _user_version(v1_store) == 1


def test_opening_a_version_1_store_migrates_it_to_the_current_version(v1_store: Path) -> None:
    JobStore(v1_store).close()

    assert _user_version(v1_store) == SCHEMA_VERSION == 3
    with closing(sqlite3.connect(v1_store)) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "items", "runs", "items_by_status", "jobs_by_created", "cache", "file_hashes"} <= names
    assert not names & {"attempts", "items_v2"}
    with JobStore(v1_store, readonly=True) as reader:
        assert [row.job_id for row in reader.jobs()] == ["left", "old"]


def test_a_migrated_job_reads_back_as_it_was_with_no_owner(v1_store: Path) -> None:
    with JobStore(v1_store) as store:
        old = store.job("old")
        left = store.job("left")

    assert old is not None
    assert (old.name, old.status, old.priority, old.spec) == (
        "holiday", "completed", 1, {"inputs": ["a"]},
    )
    assert (old.created_at, old.finished_at, old.duration_s) == (100.0, 160.0, 60.0)
    assert old.counts == {"total": 2, "done": 1, "cached": 0, "failed": 1, "skipped": 0, "cancelled": 0}
    assert (old.owner, old.heartbeat_at, old.runs) == (None, None, 1)
    assert left is not None
    assert (left.status, left.owner, left.runs) == (INTERRUPTED, None, 1)
    assert left.counts["done"] == 1


def test_migrated_items_read_back_with_the_new_fields_at_their_defaults(v1_store: Path) -> None:
    with JobStore(v1_store) as store:
        items = list(store.items("old"))
        records = list(store.outcome_records("old"))

    assert items == [
        ItemRow(job_id="old", index=0, path=_ODD_PATH, status=ItemStatus.DONE, attempts=2,
                duration_ms=12.5, outputs=("/out/0.png",), result=RESULT, finished_at=150.0),
        ItemRow(job_id="old", index=1, path="/in/1.jpg", status=ItemStatus.FAILED,
                reason="worker.crashed", message="died", attempts=3, duration_ms=40.0,
                finished_at=155.0),
    ]
    assert [(r.index, r.path, r.status, r.width) for r in records] == [
        (0, _ODD_PATH, "done", 64),
        (1, "/in/1.jpg", "failed", None),
    ]


def test_migrated_attempts_read_back_as_failed_runs(v1_store: Path) -> None:
    with JobStore(v1_store) as store:
        assert store.runs("old", 0) == [
            RunRow(job_id="old", index=0, run=1, attempt=1, job_run=1, started_at=120.0,
                   ended_at=120.0, status="failed", reason="io.transient", message="first"),
        ]
        assert [(r.run, r.attempt, r.status, r.message) for r in store.runs("old", 1)] == [
            (1, 1, "failed", "died once"),
            (2, 2, "failed", "died twice"),
        ]
        assert store.runs("left", 0) == []


def test_a_migrated_store_takes_new_writes_and_its_interrupted_job_can_be_claimed(
    v1_store: Path,
) -> None:
    with JobStore(v1_store) as store:
        before = store.claim("left", OWNER)
        record_state(store, "left", 1, ItemStatus.RUNNING, stem="caf\udce9", rel_dir="sub")
        store.record_run(RunRow(job_id="left", index=1, run=1, attempt=1, job_run=2,
                                started_at=300.0))

    with JobStore(v1_store, readonly=True) as reader:
        left = reader.job("left")
        items = list(reader.items("left"))
        runs = reader.runs("left", 1)

    assert (before.status, before.runs) == (INTERRUPTED, 1)
    assert left is not None
    assert (left.status, left.owner, left.runs) == ("running", OWNER, 2)
    assert [(item.index, item.status, item.stem) for item in items] == [
        (0, "done", ""),
        (1, "running", "caf\udce9"),
    ]
    assert [(run.job_run, run.status) for run in runs] == [(2, None)]


def test_a_job_left_running_in_a_version_1_store_is_pruned_by_its_creation(
    v1_store: Path,
) -> None:
    day = 86_400.0
    with JobStore(v1_store) as store:
        # "left" was created at 200 s and never heartbeat; "old" finished at 160 s.
        assert store.prune(older_than_days=1, now=200.0 + day - 1) == 1
        assert [row.job_id for row in store.jobs()] == ["left"]
        assert store.prune(older_than_days=1, now=200.0 + day + 1) == 1
        assert store.jobs() == []
