from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest

from pixelmill.errors import ConfigError
from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import INTERRUPTED, ItemRow, JobStore, Owner, RunRow
from tests.store._records import OWNER, RESULT, record_done, record_job, record_state

if TYPE_CHECKING:
    from pathlib import Path


def test_a_recorded_job_reads_back_with_its_spec(store: JobStore) -> None:
    store.record_job(
        "job1",
        name="holiday",
        priority=1,
        spec={"inputs": ["a", "b"]},
        created_at=5.0,
        owner=OWNER,
    )

    row = store.job("job1")

    assert row is not None
    assert (row.job_id, row.name, row.status, row.priority) == ("job1", "holiday", "running", 1)
    assert row.spec == {"inputs": ["a", "b"]}
    assert (row.created_at, row.finished_at, row.duration_s) == (5.0, None, None)
    assert (row.owner, row.runs) == (OWNER, 1)
    assert row.heartbeat_at is not None


def test_a_finished_job_keeps_its_status_reason_counts_and_duration(store: JobStore) -> None:
    record_job(store, created_at=1000.0)
    counts = {"total": 3, "done": 1, "cached": 0, "failed": 1, "skipped": 1, "cancelled": 0}

    store.finish_job(
        "job1",
        status="aborted",
        reason="output.no_space",
        message="disk full",
        counts=counts,
        finished_at=1012.5,
    )

    row = store.job("job1")
    assert row is not None
    assert (row.status, row.reason, row.message) == ("aborted", "output.no_space", "disk full")
    assert row.counts == counts
    assert row.duration_s == 12.5


def test_a_running_job_counts_the_outcomes_recorded_so_far(store: JobStore) -> None:
    record_job(store)
    record_done(store, "job1", 0)
    record_state(store, "job1", 1, ItemStatus.CANCELLED)

    row = store.job("job1")

    assert row is not None
    assert row.counts == {"total": 2, "done": 1, "cached": 0, "failed": 0, "skipped": 0, "cancelled": 1}


def test_an_outcome_reads_back_as_an_item_row(store: JobStore) -> None:
    record_job(store)
    record_done(store, "job1", 0)

    [item] = store.items("job1")

    assert item == ItemRow(
        job_id="job1",
        index=0,
        path="/in/0.jpg",
        status=ItemStatus.DONE,
        reason=None,
        message=None,
        attempts=1,
        duration_ms=12.5,
        outputs=("/out/0.png",),
        result=RESULT,
        finished_at=item.finished_at,
    )
    assert item.finished_at is not None


def test_outcome_records_have_the_full_record_shape(store: JobStore) -> None:
    record_job(store)
    record_done(store, "job1", 0)
    record_state(store, "job1", 1, ItemStatus.SKIPPED, reason="input.truncated", message="cut")

    done, skipped = (record.to_data() for record in store.outcome_records("job1"))

    assert done == {
        "index": 0,
        "path": "/in/0.jpg",
        "status": "done",
        "reason": None,
        "message": None,
        "attempts": 1,
        "duration_ms": 12.5,
        "outputs": ["/out/0.png"],
        "width": 64,
        "height": 48,
        "source": RESULT["source"],
        "analyses": RESULT["analyses"],
    }
    assert skipped["source"] is None
    assert (skipped["width"], skipped["height"], skipped["analyses"]) == (None, None, {})
    assert (skipped["status"], skipped["reason"], skipped["outputs"]) == (
        "skipped",
        "input.truncated",
        [],
    )


def test_items_come_by_index_and_can_be_filtered_by_status(store: JobStore) -> None:
    record_job(store)
    for index in (3, 0, 2):
        record_done(store, "job1", index)
    record_state(store, "job1", 1, ItemStatus.FAILED, reason="worker.crashed")

    assert [item.index for item in store.items("job1")] == [0, 1, 2, 3]
    assert [item.index for item in store.items("job1", ItemStatus.DONE)] == [0, 2, 3]
    assert [item.index for item in store.items("job1", "failed")] == [1]


def test_an_unknown_status_is_refused_with_the_allowed_ones(store: JobStore) -> None:
    finished: Any = "finished"
    with pytest.raises(ConfigError, match=r"'finished'.*done"):
        store.record_item(ItemRow(job_id="job1", index=0, path="a", status=finished))
    with pytest.raises(ConfigError, match="'finished'"):
        store.items("job1", "finished")
    with pytest.raises(ConfigError, match="'running'"):
        store.finish_job("job1", status="running", counts={}, finished_at=1.0)
    with pytest.raises(ConfigError, match="unknown count pending"):
        store.finish_job("job1", status="completed", counts={"pending": 1}, finished_at=1.0)


def test_a_second_outcome_for_an_item_replaces_the_first(store: JobStore) -> None:
    record_job(store)
    record_state(store, "job1", 0, ItemStatus.FAILED, reason="io.transient")
    store.flush()
    record_done(store, "job1", 0)

    items = list(store.items("job1"))

    assert [(item.index, item.status, item.reason) for item in items] == [(0, "done", None)]


def _run(index: int, run: int, **fields: Any) -> RunRow:
    return RunRow(job_id="job1", index=index, run=run, attempt=run, job_run=1,
                  started_at=100.0 + run, **fields)


def test_runs_read_back_in_order_and_a_run_is_kept_once(store: JobStore) -> None:
    store.record_run(_run(4, 2, status="failed", reason="io.transient", message="second"))
    store.record_run(_run(4, 1, status="failed", reason="io.transient", message="first"))
    store.record_run(_run(4, 2, status="lost", reason="worker.crashed", message="second again"))

    runs = store.runs("job1", 4)

    assert [(r.run, r.status, r.reason, r.message) for r in runs] == [
        (1, "failed", "io.transient", "first"),
        (2, "lost", "worker.crashed", "second again"),
    ]
    assert isinstance(runs[0], RunRow)
    assert store.runs("job1", 5) == []


def test_a_run_recorded_at_its_start_is_completed_at_its_end(store: JobStore) -> None:
    store.record_run(_run(0, 1))
    assert store.runs("job1", 0) == [_run(0, 1)]
    assert store.runs("job1", 0)[0].status is None

    store.record_run(_run(0, 1, ended_at=105.0, status="done"))

    [run] = store.runs("job1", 0)
    assert (run.started_at, run.ended_at, run.status) == (101.0, 105.0, "done")


def test_jobs_are_listed_newest_first_up_to_a_limit(store: JobStore) -> None:
    for job_id, created_at in [("old", 1.0), ("newest", 3.0), ("middle", 2.0)]:
        record_job(store, job_id, created_at=created_at)

    assert [row.job_id for row in store.jobs()] == ["newest", "middle", "old"]
    assert [row.job_id for row in store.jobs(limit=2)] == ["newest", "middle"]


def test_a_job_is_found_by_a_unique_prefix_of_its_id(store: JobStore) -> None:
    for job_id in ("abc123", "abd456", "abc1234"):
        record_job(store, job_id)

    found = store.job("abd")

    assert found is not None
    assert found.job_id == "abd456"
    assert store.job("zz") is None


def test_an_exact_id_wins_over_the_ids_it_starts(store: JobStore) -> None:
    for job_id in ("abc123", "abc1234"):
        record_job(store, job_id)

    found = store.job("abc123")

    assert found is not None
    assert found.job_id == "abc123"


def test_an_ambiguous_prefix_names_the_candidates(store: JobStore) -> None:
    for job_id in ("abc123", "abd456"):
        record_job(store, job_id)

    with pytest.raises(ConfigError, match=r"'ab' is ambiguous.*abc123, abd456"):
        store.job("ab")
    with pytest.raises(ConfigError, match="empty"):
        store.job("")


def test_a_prefix_is_matched_literally_and_with_its_case(store: JobStore) -> None:
    record_job(store, "ab_x")
    record_job(store, "ABCD")

    assert store.job("a%") is None
    assert store.job("ab_") is not None
    assert store.job("abc") is None


def test_prune_deletes_old_finished_jobs_with_their_items_only(store: JobStore) -> None:
    day = 86_400.0
    for job_id in ("old_done", "old_running", "new_interrupted", "new_done"):
        record_job(store, job_id, created_at=0.0)
        record_done(store, job_id, 0)
        store.record_run(
            RunRow(job_id=job_id, index=0, run=1, attempt=1, job_run=1, started_at=0.5 * day,
                   ended_at=0.5 * day, status="failed", reason="io.transient", message="retry")
        )
    store.heartbeat(["old_running"], at=1 * day)
    store.heartbeat(["new_interrupted"], at=9 * day)
    store.finish_job("old_done", status="completed", counts={}, finished_at=1 * day)
    store.finish_job("new_done", status="completed", counts={}, finished_at=9 * day)
    store.mark_interrupted("new_interrupted")

    pruned = store.prune(older_than_days=5, now=10 * day)

    assert pruned == 1
    assert sorted(row.job_id for row in store.jobs()) == [
        "new_done",
        "new_interrupted",
        "old_running",
    ]
    assert list(store.items("old_done")) == []
    assert store.runs("old_done", 0) == []
    for kept in ("new_done", "new_interrupted", "old_running"):
        assert [item.index for item in store.items(kept)] == [0]
        assert len(store.runs(kept, 0)) == 1
    assert store.prune(older_than_days=5, now=10 * day) == 0


def test_mark_interrupted_leaves_a_finished_job_as_it_is(store: JobStore) -> None:
    record_job(store, "running")
    record_job(store, "finished")
    store.finish_job("finished", status="cancelled", counts={}, finished_at=2000.0)

    store.mark_interrupted("running")
    store.mark_interrupted("finished")

    statuses = {row.job_id: row.status for row in store.jobs()}
    assert statuses == {"running": INTERRUPTED, "finished": "cancelled"}


def test_recording_a_job_again_resumes_it_and_keeps_its_items(store: JobStore) -> None:
    record_job(store, created_at=1000.0)
    record_done(store, "job1", 0)
    store.mark_interrupted("job1")

    again = Owner.of_this_process()
    store.record_job(
        "job1", name="again", priority=0, spec={"v": 2}, created_at=2000.0, owner=again
    )

    row = store.job("job1")
    assert row is not None
    assert (row.status, row.name, row.priority, row.spec) == ("running", "again", 0, {"v": 2})
    assert row.created_at == 1000.0
    assert (row.owner, row.runs) == (again, 2)
    assert [(item.path, item.status) for item in store.items("job1")] == [("/in/0.jpg", "done")]


def test_a_readonly_store_refuses_writes(store: JobStore, store_path: Path) -> None:
    with JobStore(store_path, readonly=True) as reader:
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            record_job(reader)
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            reader.prune(older_than_days=0)
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            reader.claim("job1", OWNER)
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            reader.heartbeat(["job1"])
        reader.flush()


def test_a_closed_store_refuses_use_and_closes_again_quietly(store_path: Path) -> None:
    store = JobStore(store_path)
    store.close()
    store.close()

    with pytest.raises(ValueError, match="closed"):
        record_done(store, "job1", 0)
    with pytest.raises(ValueError, match="closed"):
        store.jobs()


def test_an_items_iterator_outliving_its_store_closes_quietly(store_path: Path) -> None:
    with JobStore(store_path) as store:
        for index in range(3):
            record_done(store, "job1", index)
        items = store.items("job1")
        assert next(items).index == 0

    # NOTE: with filterwarnings=error an error in the iterator's cleanup fails this test.
    items.close()


def test_outputs_given_as_a_single_string_are_refused(store: JobStore) -> None:
    outputs: Any = "/out/a.png"
    with pytest.raises(TypeError, match="sequence of paths"):
        store.record_item(
            ItemRow(job_id="job1", index=0, path="a", status=ItemStatus.DONE, outputs=outputs)
        )


def test_a_spec_that_json_cannot_hold_is_refused_at_once(store: JobStore) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        store.record_job(
            "job1", name="n", priority=2, spec={"when": object()}, created_at=1.0, owner=OWNER
        )

    assert store.jobs() == []
