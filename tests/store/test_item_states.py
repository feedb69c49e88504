"""Items on their way as well as at their end, and the records of finished ones."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from pixelmill.messages.jobs import FINAL_STATUSES, ItemStatus
from pixelmill.store import ItemRow, JobStore
from tests.store._records import record_job, record_state

if TYPE_CHECKING:
    from pathlib import Path

_ON_THE_WAY = [status for status in ItemStatus if not status.final]


@pytest.mark.parametrize("status", _ON_THE_WAY)
def test_an_item_on_its_way_reads_back_unfinished(store: JobStore, status: ItemStatus) -> None:
    record_state(store, "job1", 0, status, finished_at=123.0)

    [item] = store.items("job1")

    assert item.status == status
    assert item.finished_at is None


def test_a_deciding_item_keeps_the_failure_being_decided_on(store: JobStore) -> None:
    record_job(store)
    record_state(store, "job1", 0, ItemStatus.QUEUED, size=2048, mtime_ns=17)
    record_state(store, "job1", 1, ItemStatus.RUNNING, attempts=1, runs=1, reduce=2)
    record_state(
        store, "job1", 2, ItemStatus.DECIDING,
        reason="worker.crashed", message="exit code -9", attempts=2, runs=3,
    )

    queued, running, deciding = store.items("job1")

    assert (queued.status, queued.size, queued.mtime_ns, queued.finished_at) == (
        "queued", 2048, 17, None,
    )
    assert (running.status, running.attempts, running.runs, running.reduce) == (
        "running", 1, 1, 2,
    )
    assert deciding == ItemRow(
        job_id="job1", index=2, path="/in/2.jpg", status=ItemStatus.DECIDING,
        reason="worker.crashed", message="exit code -9", attempts=2, runs=3,
    )
    assert [item.index for item in store.items("job1", "deciding")] == [2]


def test_an_item_keeps_every_field_it_was_recorded_with(store: JobStore) -> None:
    row = ItemRow(
        job_id="job1", index=3, path="/in/3.jpg", status=ItemStatus.RETRYING,
        reason="io.transient", message="again", attempts=2, duration_ms=1.5,
        outputs=("/out/a", "/out/b"), result={"width": 1}, size=10, mtime_ns=2**62,
        stem="photo (2)", rel_dir="2024/june", reduce=4, runs=2,
    )
    store.record_item(row)

    assert list(store.items("job1")) == [row]


def test_an_item_reaching_its_end_is_stamped_finished(store: JobStore) -> None:
    record_state(store, "job1", 0, ItemStatus.RUNNING)
    store.flush()
    before = time.time()

    record_state(store, "job1", 0, ItemStatus.FAILED, reason="worker.crashed", finished_at=1.0)

    [item] = store.items("job1")
    assert item.status == ItemStatus.FAILED
    # The store stamps the time itself; the row's own finished_at is ignored.
    assert item.finished_at is not None
    assert before <= item.finished_at <= time.time()


def test_an_item_may_go_back_on_its_way_and_then_is_unfinished_again(store: JobStore) -> None:
    record_state(store, "job1", 0, ItemStatus.CANCELLED)
    store.flush()
    record_state(store, "job1", 0, ItemStatus.QUEUED)

    [item] = store.items("job1")

    assert (item.status, item.finished_at) == ("queued", None)


def test_a_running_jobs_counts_count_only_items_at_their_end(store: JobStore) -> None:
    record_job(store)
    for index, status in enumerate([*_ON_THE_WAY, *FINAL_STATUSES]):
        record_state(store, "job1", index, status)

    row = store.job("job1")

    assert row is not None
    assert row.counts == {"total": 11, "done": 1, "cached": 1, "failed": 1, "skipped": 1, "cancelled": 1}


_MIXED = [
    ItemStatus.DONE,
    ItemStatus.RUNNING,
    ItemStatus.FAILED,
    ItemStatus.QUEUED,
    ItemStatus.CANCELLED,
    ItemStatus.SKIPPED,
    ItemStatus.DECIDING,
]


@pytest.fixture
def mixed(store: JobStore) -> JobStore:
    """Job "job1" with items 0 to 6, three of them on their way (1, 3 and 6)."""
    record_job(store)
    for index, status in enumerate(_MIXED):
        record_state(store, "job1", index, status)
    record_state(store, "other", 0, ItemStatus.DONE)
    return store


def test_outcome_records_give_only_finished_items(mixed: JobStore) -> None:
    records = list(mixed.outcome_records("job1"))

    assert [(r.index, r.status) for r in records] == [
        (0, "done"), (2, "failed"), (4, "cancelled"), (5, "skipped"),
    ]
    assert len(list(mixed.items("job1"))) == len(_MIXED)


@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        ({0, 1, 4, 6}, [0, 4]),
        ([5, 2], [2, 5]),
        (range(3, 100), [4, 5]),
        ({1, 3, 6, 99}, []),
        ((), []),
    ],
)
def test_outcome_records_give_only_the_finished_items_asked_for(
    mixed: JobStore, indices: set[int] | list[int] | range, expected: list[int]
) -> None:
    assert [r.index for r in mixed.outcome_records("job1", indices)] == expected


def test_a_reader_sees_items_on_their_way_once_flushed(mixed: JobStore, store_path: Path) -> None:
    mixed.flush()

    with JobStore(store_path, readonly=True) as reader:
        statuses = [item.status for item in reader.items("job1")]
        finished = [r.index for r in reader.outcome_records("job1", {0, 1})]

    assert statuses == _MIXED
    assert finished == [0]
