from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import JobStore, RunRow
from tests.store._records import OWNER, record_job, record_state

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
    record_state(store, "job1", 0, ItemStatus.DONE, path=path, outputs=(path + ".out",))

    [item] = store.items("job1")
    [done] = store.items("job1", ItemStatus.DONE)
    [record] = store.outcome_records("job1", indices={0})

    assert item.path == path
    assert item.outputs == (path + ".out",)
    assert done.path == path
    assert record.path == path
    assert record.outputs == (path + ".out",)


@pytest.mark.parametrize(
    ("stem", "rel_dir"),
    [
        ("caf\udce9 \udcff", "in/caf\udce9/\udcfe"),
        ("two\nlines", "tab\there"),
        ("é 漢字 😀", "漢字/😀"),
    ],
)
def test_an_odd_stem_and_output_dir_survive_the_round_trip(
    store: JobStore, stem: str, rel_dir: str
) -> None:
    record_state(store, "job1", 0, ItemStatus.QUEUED, stem=stem, rel_dir=rel_dir)
    record_state(store, "job1", 1, ItemStatus.DONE, stem=stem, rel_dir=rel_dir)

    queued, done = store.items("job1")

    assert (queued.stem, queued.rel_dir) == (stem, rel_dir)
    assert (done.stem, done.rel_dir) == (stem, rel_dir)


def test_a_path_is_stored_as_the_bytes_the_os_uses(store: JobStore, store_path: Path) -> None:
    stem = "caf\udce9"
    record_state(store, "job1", 0, ItemStatus.DONE, path=ODD_PATHS[0], stem=stem, rel_dir=stem)
    store.flush()

    with closing(sqlite3.connect(store_path)) as connection:
        [row] = connection.execute("SELECT path, stem, rel_dir FROM items").fetchall()

    assert row == (os.fsencode(ODD_PATHS[0]), os.fsencode(stem), os.fsencode(stem))
    assert os.fsencode(stem) == b"caf\xe9"


def test_a_message_quoting_an_undecodable_name_is_kept_readable(store: JobStore) -> None:
    record_job(store)
    record_state(
        store, "job1", 0, ItemStatus.SKIPPED, reason="input.truncated", message="bad \udcff.jpg"
    )
    store.record_run(
        RunRow(job_id="job1", index=0, run=1, attempt=1, job_run=1, started_at=1.0,
               status="failed", reason="io.transient", message="bad \udcff.jpg")
    )

    [item] = store.items("job1")

    assert item.message == "bad \\udcff.jpg"
    assert store.runs("job1", 0)[0].message == "bad \\udcff.jpg"


def test_a_spec_with_an_undecodable_path_reads_back_unchanged(store: JobStore) -> None:
    spec = {"inputs": [ODD_PATHS[0], ODD_PATHS[1]]}
    store.record_job("job1", name="odd", priority=2, spec=spec, created_at=1.0, owner=OWNER)

    row = store.job("job1")

    assert row is not None
    assert row.spec == spec
