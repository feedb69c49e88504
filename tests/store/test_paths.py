from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from pixelmill.store import JobStore
from tests.store._records import record_job

if TYPE_CHECKING:
    from pathlib import Path

ODD_PATHS = [
    "/in/caf\udce9 \udcff.jpg",  # Latin-1 bytes in a UTF-8 world: os.fsdecode gives escapes
    "/in/two\nlines.png",
    "/in/tab\there/é 漢字 😀.tif",
]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_an_odd_path_survives_every_read(store: JobStore, path: str) -> None:
    record_job(store)
    store.record_outcome("job1", 0, path=path, status="done", outputs=[path + ".out"])

    [item] = store.items("job1")
    [record] = store.outcome_records("job1")

    assert item.path == path
    assert item.outputs == (path + ".out",)
    assert record["path"] == path
    assert record["outputs"] == [path + ".out"]
    assert store.finished_paths("job1") == {path}


def test_a_path_is_stored_as_the_bytes_the_os_uses(store: JobStore, store_path: Path) -> None:
    store.record_outcome("job1", 0, path=ODD_PATHS[0], status="done")
    store.flush()

    with closing(sqlite3.connect(store_path)) as connection:
        [(stored,)] = connection.execute("SELECT path FROM items").fetchall()

    assert stored == os.fsencode(ODD_PATHS[0])


def test_a_message_quoting_an_undecodable_name_is_kept_readable(store: JobStore) -> None:
    record_job(store)
    store.record_outcome(
        "job1", 0, path="x", status="skipped", reason="input.truncated", message="bad \udcff.jpg"
    )
    store.record_attempt("job1", 0, 1, reason="io.transient", message="bad \udcff.jpg")

    [item] = store.items("job1")

    assert item.message == "bad \\udcff.jpg"
    assert store.attempts("job1", 0)[0].message == "bad \\udcff.jpg"


def test_a_spec_with_an_undecodable_path_reads_back_unchanged(store: JobStore) -> None:
    spec = {"inputs": [ODD_PATHS[0], ODD_PATHS[1]]}
    store.record_job("job1", name="odd", priority=2, spec=spec, created_at=1.0)

    row = store.job("job1")

    assert row is not None
    assert row.spec == spec
