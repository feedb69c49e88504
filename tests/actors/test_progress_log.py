"""`job.progress` records: when they are due, their rate and ETA, and a headless run's log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import tests.runtime._slow_op  # noqa: F401 - registers test_pause here and in workers
from pixelmill import JobSpec, Runtime, ops
from pixelmill.actors import _progress_log
from pixelmill.actors._progress_log import ProgressLog
from pixelmill.logs import read_records
from pixelmill.messages import JobCounts, JobProgress, JobStatus
from pixelmill.testing import write_sample_set

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class FakeJob:
    """What ProgressLog reads of a Job: its progress."""

    done: int = 0
    total: int = 100
    expanded: bool = True
    elapsed_s: float = 1.0

    def progress(self) -> JobProgress:
        return JobProgress(job_id="j", status=JobStatus.RUNNING, expanded=self.expanded,
                           running=2, elapsed_s=self.elapsed_s,
                           counts=JobCounts(total=self.total, done=self.done))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_records_come_every_few_seconds_one_per_running_job() -> None:
    clock = Clock()
    log = ProgressLog(5.0, clock=clock)
    jobs: dict[str, Any] = {"a": FakeJob(done=10, elapsed_s=4.0), "b": FakeJob(expanded=False)}

    clock.now += 4.9
    early = log.due(jobs)
    clock.now += 0.1
    records = log.due(jobs)
    again = log.due(jobs)

    assert early == [] and again == []
    assert [r["job_id"] for r in records] == ["a", "b"]
    assert records[0] | {"elapsed_s": 0} == {
        "job_id": "a", "finished": 10, "total": 100, "expanded": True, "done": 10,
        "cached": 0, "failed": 0, "skipped": 0, "cancelled": 0, "running": 2,
        "rate": 2.5, "eta_s": 36, "elapsed_s": 0,  # 10 in 4 s; 90 left at 2.5/s
    }
    assert records[1]["eta_s"] is None  # its total is not final yet


def test_the_rate_follows_the_recent_past_and_ended_jobs_drop_out() -> None:
    clock = Clock()
    log = ProgressLog(5.0, clock=clock)
    job = FakeJob(done=50, elapsed_s=5.0)  # a resumed job: 50 carried over at once
    jobs: dict[str, Any] = {"a": job}
    rates = []
    for _ in range(12):
        clock.now += 5.0
        rates.append(log.due(jobs)[0]["rate"])
        job.done += 5  # from now on, 1 item/s
        job.elapsed_s += 5.0

    assert rates[0] == 10.0
    assert rates[-1] == 1.0  # the carried-over burst is out of the 30 s window
    del jobs["a"]
    clock.now += 5.0
    assert log.due(jobs) == []


def test_a_headless_runs_log_shows_each_jobs_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress_log, "PROGRESS_EVERY_S", 0.5)  # the JobManager's tick
    log_file = tmp_path / "run.jsonl"
    spec = JobSpec(
        inputs=write_sample_set(tmp_path / "in", 6), export_dir=tmp_path / "out",
        pipeline=[{"op": "test_pause", "ms": 400}, ops.thumbnail(32)],  # type: ignore[list-item]
    )
    with Runtime(workers=1, batch_items=1, log_file=log_file) as runtime:
        result = runtime.submit(spec).wait(timeout=60)

    records = [r for r in read_records(log_file) if r["event"] == "job.progress"]
    # NOTE: 6 items of 400 ms on one worker run 2.4 s: four records at least.
    assert len(records) >= 4, records
    assert {r["job_id"] for r in records} == {result.job_id}
    finished = [r["finished"] for r in records]
    assert finished == sorted(finished)
    assert {r["total"] for r in records if r["expanded"]} == {6}
    moving = [r for r in records if r["finished"] > 0 and r["expanded"]]
    assert moving, records
    assert any(r["rate"] > 0 and r["eta_s"] is not None for r in moving), moving
    assert all(r["level"] == "info" and r["actor"] == "job_manager" for r in records)
