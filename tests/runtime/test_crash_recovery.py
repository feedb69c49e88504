"""Crash-only: any actor of a Runtime may die mid-job; its jobs go on, nothing lost or doubled."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import tests.runtime._slow_op  # noqa: F401 - registers test_pause here and in workers
from pixelmill import BrokenRuntimeError, JobSpec, JobStatus, Runtime, ops
from pixelmill.actors.base import Role
from pixelmill.messages import ItemFinished, JobFinished, Sample
from pixelmill.store import JobStore
from pixelmill.testing import crash_actor, write_sample_set

if TYPE_CHECKING:
    from pixelmill.runtime.handle import JobResult

COUNT = 24
PIPELINE = [{"op": "test_pause", "ms": 40}, ops.thumbnail(24), ops.save(format="png")]


def _spec(tmp_path: Path, count: int = COUNT) -> JobSpec:
    write_sample_set(tmp_path / "in", count, seed=5)
    return JobSpec(inputs=[str(tmp_path / "in")], export_dir=tmp_path / "out",
                   pipeline=PIPELINE, analyses=["channel_stats"], name="crashy")


class _Events:
    """What a handle's listener saw, and a way to wait for the first items."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._some_done = threading.Event()

    def __call__(self, event: Any) -> None:
        self.seen.append(event)
        if isinstance(event, ItemFinished) and len(self.finished()) >= 3:
            self._some_done.set()

    def finished(self) -> list[ItemFinished]:
        return [e for e in self.seen if isinstance(e, ItemFinished)]

    def wait_some_done(self) -> None:
        assert self._some_done.wait(60), "no item finished"


def _assert_every_input_exactly_once(result: JobResult, out: Path, state: Path) -> None:
    assert result.status is JobStatus.COMPLETED, (result.reason, result.message)
    assert result.counts.as_dict() == {
        "total": COUNT, "done": COUNT, "cached": 0, "failed": 0, "skipped": 0, "cancelled": 0,
    }
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    summary = json.loads((out / "summary.json").read_text())
    for listed in ([r["path"] for r in records], [r["path"] for r in rows],
                   [i["path"] for i in summary["items"]]):
        assert sorted(listed) == sorted(str(p) for p in (out.parent / "in").iterdir())
    assert sorted(r["index"] for r in records) == list(range(COUNT))
    assert summary["counts"]["done"] == COUNT
    with JobStore.in_dir(state, readonly=True) as store:
        items = list(store.items(result.job_id))
        (job,) = store.jobs()
    assert sorted(i.index for i in items) == list(range(COUNT))
    assert {i.status.value for i in items} == {"done"}
    assert job.status == "completed"


@pytest.mark.parametrize("role", [
    Role.JOB_MANAGER, Role.EXPORTER, Role.RESOURCE_MANAGER, Role.PROCESSOR_POOL,
    Role.SUPERVISOR, Role.MONITOR,
])
def test_a_crash_of_any_actor_mid_job_loses_and_doubles_nothing(
    tmp_path: Path, role: str
) -> None:
    spec = _spec(tmp_path)
    events = _Events()
    state = tmp_path / "state"
    with Runtime(workers=2, state_dir=state, batch_items=1) as runtime:
        handle = runtime.submit(spec, on_event=events)
        events.wait_some_done()
        before = len(events.finished())
        crash_actor(runtime, role)
        result = handle.wait(timeout=90)
    assert before < COUNT, "the crash came after the job's end: not a mid-job crash"
    _assert_every_input_exactly_once(result, tmp_path / "out", state)
    assert isinstance(events.seen[-1], JobFinished)
    assert len({e.index for e in events.finished()}) >= before


def test_a_job_manager_crash_keeps_the_handle_and_its_events_going(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    events = _Events()
    with Runtime(workers=1, state_dir=tmp_path / "state", batch_items=1) as runtime:
        handle = runtime.submit(spec, on_event=events)
        events.wait_some_done()
        crash_actor(runtime, Role.JOB_MANAGER)
        after_crash = len(events.seen)
        result = handle.wait(timeout=90)
        # The same Runtime takes new jobs after the crash.
        again = runtime.submit(JobSpec(inputs=spec.inputs, export_dir=tmp_path / "again",
                                       pipeline=[ops.thumbnail(16), ops.save()]))
        assert again.wait(timeout=60).counts.done == COUNT
    assert result.status is JobStatus.COMPLETED
    later = events.seen[after_crash:]
    assert any(isinstance(e, ItemFinished) for e in later), "events went on after the crash"
    assert isinstance(later[-1], JobFinished)
    assert handle.progress().counts.done == COUNT


def test_an_exporter_crash_while_closing_the_export_still_ends_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixelmill import report

    calls = []
    real = report.write_report

    def fails_once(directory: Path, *args: Any, **kwargs: Any) -> None:
        calls.append(directory)
        if len(calls) == 1:
            raise RuntimeError("a bug in the report, the first time only")
        real(directory, *args, **kwargs)

    monkeypatch.setattr(report, "write_report", fails_once)
    state = tmp_path / "state"
    spec = _spec(tmp_path)
    with Runtime(workers=2, state_dir=state, batch_items=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    assert len(calls) == 2, "the close ran again on the new Exporter"
    _assert_every_input_exactly_once(result, tmp_path / "out", state)
    assert (tmp_path / "out" / "report.html").exists()


def test_a_restarted_monitor_keeps_its_subscriptions(tmp_path: Path) -> None:
    samples: list[Sample] = []
    got_one = threading.Event()

    def watcher(event: object) -> None:
        if isinstance(event, Sample):
            samples.append(event)
            got_one.set()

    with Runtime(workers=1, state_dir=tmp_path / "state", monitor_interval_s=0.05) as runtime:
        runtime.subscribe(watcher)
        assert got_one.wait(10)
        crash_actor(runtime, Role.MONITOR)
        got_one.clear()
        crashed_at = len(samples)
        assert got_one.wait(10), "no sample after the Monitor's restart"
    assert len(samples) > crashed_at


def test_without_a_job_store_a_job_manager_crash_fails_the_handles_at_once(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    events = _Events()
    with Runtime(workers=1, journal=False, batch_items=1) as runtime:
        handle = runtime.submit(spec, on_event=events)
        events.wait_some_done()
        crash_actor(runtime, Role.JOB_MANAGER)
        with pytest.raises(BrokenRuntimeError, match="job store"):
            handle.wait(timeout=10)


def test_a_job_cancelled_while_its_job_manager_was_down_is_still_cancelled(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, count=COUNT)
    events = _Events()
    with Runtime(workers=1, state_dir=tmp_path / "state", batch_items=1) as runtime:
        handle = runtime.submit(spec, on_event=events)
        events.wait_some_done()
        crash_actor(runtime, Role.JOB_MANAGER)
        handle.cancel()
        result = handle.wait(timeout=60)
    assert result.status is JobStatus.CANCELLED
    assert result.counts.cancelled > 0
    assert result.counts.finished == result.counts.total == COUNT




def test_a_supervisor_dying_past_the_restart_limit_breaks_the_runtime_and_stops_every_actor(
    tmp_path: Path,
) -> None:
    import pykka

    spec = _spec(tmp_path)
    with Runtime(workers=1, state_dir=tmp_path / "state", max_restarts=2) as runtime:
        handle = runtime.submit(spec)
        for _ in range(3):
            crash_actor(runtime, Role.SUPERVISOR)
        with pytest.raises(BrokenRuntimeError, match="supervisor died 3 times"):
            handle.wait(timeout=30)
    assert [ref for ref in pykka.ActorRegistry.get_all() if ref.is_alive()] == []
