from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from pixelmill.store import JobStore
from tests.store._records import count_items, record_done, record_job

if TYPE_CHECKING:
    from pathlib import Path


def test_a_reader_sees_an_outcome_only_once_it_is_flushed(
    store: JobStore, store_path: Path
) -> None:
    record_job(store)
    record_done(store, "job1", 0)

    assert count_items(store_path) == 0
    store.flush()
    assert count_items(store_path) == 1


def test_a_recorded_job_is_visible_at_once(store: JobStore, store_path: Path) -> None:
    record_job(store)

    with JobStore(store_path, readonly=True) as reader:
        assert [row.job_id for row in reader.jobs()] == ["job1"]


def test_a_batch_commits_when_it_reaches_its_size(store_path: Path) -> None:
    with JobStore(store_path, batch_size=3, batch_interval_s=3600) as store:
        record_done(store, "job1", 0)
        record_done(store, "job1", 1)
        assert count_items(store_path) == 0

        record_done(store, "job1", 2)
        assert count_items(store_path) == 3


def test_a_batch_commits_at_the_first_write_after_its_interval(store_path: Path) -> None:
    with JobStore(store_path, batch_size=10_000, batch_interval_s=0.05) as store:
        record_done(store, "job1", 0)
        time.sleep(0.1)
        # No timer thread: only the next write notices that the interval passed.
        assert count_items(store_path) == 0

        record_done(store, "job1", 1)
        assert count_items(store_path) == 2


def test_finishing_a_job_commits_its_buffered_outcomes(store: JobStore, store_path: Path) -> None:
    record_job(store)
    record_done(store, "job1", 0)

    store.finish_job("job1", status="completed", counts={"total": 1, "done": 1}, finished_at=2.0)

    assert count_items(store_path) == 1


def test_closing_the_writer_commits_what_it_buffered(store_path: Path) -> None:
    with JobStore(store_path, batch_size=10_000, batch_interval_s=3600) as store:
        record_done(store, "job1", 0)

    assert count_items(store_path) == 1


def test_a_writer_reads_its_own_buffered_writes(store: JobStore) -> None:
    record_done(store, "job1", 0)

    assert [item.index for item in store.items("job1")] == [0]


def test_a_reader_reads_while_a_writer_writes_in_another_thread(store_path: Path) -> None:
    total = 2_000
    with JobStore(store_path) as store:
        record_job(store)
    started = threading.Event()
    overlapped = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with JobStore(store_path, batch_size=50, batch_interval_s=3600) as writer:
                started.set()
                for index in range(total):
                    if index == total // 2 + 25:
                        # Halfway, with a batch buffered, until the reader has read some.
                        overlapped.wait(5)
                    record_done(writer, "job1", index)
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=write)
    thread.start()
    seen = [0]
    with JobStore(store_path, readonly=True) as reader:
        assert started.wait(5)
        deadline = time.monotonic() + 10
        while seen[-1] < total and not errors and time.monotonic() < deadline:
            row = reader.job("job1")
            assert row is not None
            seen.append(row.counts["done"])
            if seen[-1] > 0:
                overlapped.set()
        thread.join(10)

    assert not errors
    assert not thread.is_alive()
    # Whole batches only: a reader never sees half of one.
    assert all(count % 50 == 0 for count in seen)
    assert seen == sorted(seen)
    assert seen[-1] == total
    assert any(0 < count < total for count in seen)
