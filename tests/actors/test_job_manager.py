"""The JobManager through its messages, with probes playing the pool, exporter and supervisor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka
import pytest

from pixelmill.actors.base import ActorContext, Role
from pixelmill.actors.job_manager import JobManager
from pixelmill.actors.processor import probe_answers
from pixelmill.actors.resource_manager import ResourceManager
from pixelmill.imaging.pipeline import ItemResult, Pipeline
from pixelmill.messages import (
    AbortJob,
    BatchDone,
    Budget,
    CancelJob,
    CloseExport,
    DecideRecovery,
    ExportClosed,
    ExportItem,
    ExportRecords,
    GetBudget,
    ItemDone,
    ItemFailed,
    ItemFinished,
    ItemRecord,
    ItemStatus,
    JobAccepted,
    JobFinished,
    JobOrder,
    JobStatus,
    OpenExport,
    Priority,
    ProbeHeaders,
    Process,
    ProcessBatch,
    Retry,
    Skip,
    SubmitJob,
)
from pixelmill.testing import Probe, wait_until, write_image
from pixelmill.workers.process import ProbeTask, ProbeTaskItem, run_task

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pixelmill.actors.timer import Timer


class ProbingPool(pykka.ThreadingActor):
    """Plays the pool: reads headers as a worker would (`run_task` of the probe), and
    passes all other work to a probe for the test to answer."""

    def __init__(self, work: Probe) -> None:
        super().__init__()
        self._work = work

    def on_receive(self, message: Any) -> None:
        if isinstance(message, ProbeHeaders):
            task = ProbeTask(items=tuple(
                ProbeTaskItem(path=i.path, attempt=i.attempt, content_hash=i.content_hash)
                for i in message.items
            ))
            message.reply_to.tell(probe_answers(message, run_task(task), worker=0))
        else:
            self._work.ref.tell(message)


class Rig:
    """A JobManager wired to a real ResourceManager and probes for everything else."""

    def __init__(self, timer: Timer, cpu_slots: int = 2, batch_max: int = 1) -> None:
        from pixelmill.testing import make_context

        self.pool, self.exporter, self.supervisor, self.listener = (
            Probe(), Probe(), Probe(), Probe()
        )
        base = make_context(timer=timer)
        self.resources = ResourceManager.start(base, memory_mb=10_000, cpu_slots=cpu_slots)
        peers = {
            Role.SUPERVISOR: self.supervisor.ref,
            Role.RESOURCE_MANAGER: self.resources,
            Role.PROCESSOR_POOL: ProbingPool.start(self.pool),
            Role.EXPORTER: self.exporter.ref,
        }
        context = ActorContext(log=base.log, timer=timer, peers=peers)
        # By default one item per lease and per `Process` (batches have their own tests).
        self.manager: pykka.ActorRef[Any] = JobManager.start(
            context, window=2, batch_max=batch_max
        )

    def submit(self, job_id: str, paths: list[Path], tmp: Path, **fields: Any) -> None:
        order = JobOrder(
            job_id=job_id,
            name=job_id,
            inputs=tuple(str(p) for p in paths),
            pipeline=Pipeline(),
            output_dir=None,
            export_dir=tmp / f"export-{job_id}",
            **fields,
        )
        accepted = self.manager.ask(SubmitJob(order=order, listener=self.listener.ref), timeout=5)
        assert accepted == JobAccepted(job_id=job_id)
        assert self.exporter.expect(OpenExport).job_id == job_id

    def budget(self) -> Budget:
        budget = self.resources.ask(GetBudget(), timeout=5)
        assert isinstance(budget, Budget)
        return budget

    def finish_export(self) -> JobFinished:
        close = self.exporter.expect(CloseExport)
        self.manager.tell(ExportClosed(job_id=close.summary.job_id, files=("summary.json",)))
        return self.listener.expect(JobFinished)


def _done(process: Process) -> ItemDone:
    return _done_item(process.job_id, process.index, process.attempt, process.run)


def _done_item(job_id: str, index: int, attempt: int, run: int) -> ItemDone:
    result = ItemResult(outputs=(), analyses={}, source={}, width=4, height=4,
                        decode_ms=1.0, total_ms=2.0)
    return ItemDone(job_id=job_id, index=index, attempt=attempt, run=run, result=result,
                    worker=0)


def _batch_done(batch: ProcessBatch, failed: dict[int, str] | None = None) -> BatchDone:
    """Every item of `batch` done, but those in `failed` (index -> reason)."""
    failed = failed or {}
    outcomes: list[ItemDone | ItemFailed] = [
        ItemFailed(job_id=batch.job_id, index=item.index, attempt=item.attempt, run=item.run,
                   reason=failed[item.index], message="it broke", worker=0)
        if item.index in failed
        else _done_item(batch.job_id, item.index, item.attempt, item.run)
        for item in batch.items
    ]
    return BatchDone(job_id=batch.job_id, outcomes=tuple(outcomes))


def _failed(process: Process, reason: str) -> ItemFailed:
    return ItemFailed(job_id=process.job_id, index=process.index, attempt=process.attempt,
                      run=process.run, reason=reason, message="it broke", worker=0)


@pytest.fixture
def rig(timer: Timer) -> Iterator[Rig]:
    yield Rig(timer)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / f"in{i}.png" for i in range(5)]
    for path in paths:
        write_image(path, size=(8, 8))
    return paths


def test_every_item_is_processed_exported_and_the_job_finishes(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images, tmp_path)
    for _ in images:
        rig.manager.tell(_done(rig.pool.expect(Process)))
    exported = _exported(rig.exporter, len(images))
    assert sorted(item.index for item in exported) == list(range(5))
    assert {item.status for item in exported} == {ItemStatus.DONE}
    finished = rig.finish_export()
    assert finished.status is JobStatus.COMPLETED
    assert finished.counts.as_dict() == {
        "total": 5, "done": 5, "cached": 0, "failed": 0, "skipped": 0, "cancelled": 0,
    }
    assert finished.export_files == ("summary.json",)
    budget = rig.budget()
    assert (budget.leases, budget.cpu_slots_free) == (0, budget.cpu_slots)


def test_no_more_items_run_at_once_than_cpu_slots(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images, tmp_path)
    first = [rig.pool.expect(Process), rig.pool.expect(Process)]
    rig.pool.expect_nothing()
    rig.manager.tell(_done(first[0]))
    assert rig.pool.expect(Process).index == 2


def test_a_failed_item_goes_to_the_supervisor_and_a_skip_ends_it(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images[:1], tmp_path)
    process = rig.pool.expect(Process)
    rig.manager.tell(_failed(process, "input.truncated"))
    ask = rig.supervisor.expect(DecideRecovery)
    assert (ask.reason, ask.attempt) == ("input.truncated", 1)
    rig.manager.tell(Skip(job_id="j1", index=0, attempt=1, reason="input.truncated",
                          message="cut short"))
    item = rig.listener.expect(ItemFinished)
    assert (item.status, item.reason, item.message) == (
        ItemStatus.SKIPPED, "input.truncated", "cut short",
    )
    assert rig.finish_export().counts.skipped == 1


def test_a_retry_runs_the_item_again_with_the_next_attempt(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images[:1], tmp_path)
    rig.manager.tell(_failed(rig.pool.expect(Process), "io.transient"))
    rig.supervisor.expect(DecideRecovery)
    rig.manager.tell(Retry(job_id="j1", index=0, attempt=1, after_s=0.01))
    again = rig.pool.expect(Process)
    assert again.attempt == 2
    rig.manager.tell(_done(again))
    item = rig.listener.expect(ItemFinished)
    assert (item.status, item.attempts) == (ItemStatus.DONE, 2)


def test_a_stale_result_of_an_earlier_attempt_is_ignored(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images[:1], tmp_path)
    first = rig.pool.expect(Process)
    rig.manager.tell(_failed(first, "io.transient"))
    rig.supervisor.expect(DecideRecovery)
    rig.manager.tell(Retry(job_id="j1", index=0, attempt=1, after_s=0.0))
    second = rig.pool.expect(Process)
    rig.manager.tell(_done(first))  # late, from the first attempt
    rig.listener.expect_nothing()
    rig.manager.tell(_done(second))
    assert rig.listener.expect(ItemFinished).attempts == 2
    assert rig.finish_export().counts.done == 1


def test_an_abort_fails_the_item_and_skips_what_has_not_started(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images, tmp_path)
    first, second = rig.pool.expect(Process), rig.pool.expect(Process)
    rig.manager.tell(_failed(first, "output.no_space"))
    rig.supervisor.expect(DecideRecovery)
    # The failed item's slot went to the next item while the Supervisor decided.
    third = rig.pool.expect(Process)
    rig.manager.tell(AbortJob(job_id="j1", index=first.index, attempt=1,
                              reason="output.no_space", message="disk full"))
    rig.manager.tell(_done(second))  # running items may still finish
    rig.manager.tell(_done(third))
    finished = rig.finish_export()
    rig.pool.expect_nothing()
    assert finished.status is JobStatus.ABORTED
    assert finished.reason == "output.no_space"
    assert finished.counts.as_dict() == {
        "total": 5, "done": 2, "cached": 0, "failed": 1, "skipped": 2, "cancelled": 0,
    }
    assert rig.budget().leases == 0


def test_cancel_stops_dispatching_and_marks_the_rest_cancelled(
    rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig.submit("j1", images, tmp_path)
    running = [rig.pool.expect(Process), rig.pool.expect(Process)]
    rig.manager.tell(CancelJob(job_id="j1"))
    for process in running:
        rig.manager.tell(_done(process))
    finished = rig.finish_export()
    assert finished.status is JobStatus.CANCELLED
    assert (finished.counts.done, finished.counts.cancelled) == (2, 3)
    rig.pool.expect_nothing()
    budget = rig.budget()
    assert (budget.leases, budget.queued) == (0, 0)


def test_a_missing_input_is_decided_without_using_a_worker(
    rig: Rig, tmp_path: Path
) -> None:
    rig.submit("j1", [tmp_path / "nope.jpg"], tmp_path)
    ask = rig.supervisor.expect(DecideRecovery)
    assert ask.reason == "input.not_a_file"
    rig.pool.expect_nothing()


def test_the_more_urgent_job_gets_the_next_free_slot(
    timer: Timer, images: list[Path], tmp_path: Path
) -> None:
    rig = Rig(timer, cpu_slots=1)
    rig.submit("low", images, tmp_path, priority=Priority.LOW)
    running = rig.pool.expect(Process)
    queued = rig.budget().queued
    rig.submit("urgent", images[:2], tmp_path, priority=Priority.URGENT)
    # Its headers are read by workers first: then it asks for its leases.
    wait_until(lambda: rig.budget().queued == queued + 2, 5, "the urgent job's leases asked")
    rig.manager.tell(_done(running))
    assert rig.pool.expect(Process).job_id == "urgent"


# -- batches of small items ---------------------------------------------------


def _exported(exporter: Probe, count: int) -> list[ItemRecord]:
    """The next `count` rows the Exporter is sent: alone, or several items that ended
    together in one message."""
    rows: list[ItemRecord] = []
    while len(rows) < count:
        match exporter.next():
            case ExportItem(record=record):
                rows.append(record)
            case ExportRecords(records=records, reply_to=None):
                rows.extend(records)
    assert len(rows) == count, rows
    return rows


@pytest.fixture
def batching_rig(timer: Timer) -> Iterator[Rig]:
    yield Rig(timer, batch_max=3)


def test_small_items_run_in_batches_under_one_lease_each(
    batching_rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig = batching_rig
    rig.submit("j1", images, tmp_path)
    first, second = rig.pool.expect(ProcessBatch), rig.pool.expect(ProcessBatch)
    assert [len(first.items), len(second.items)] == [3, 2]
    assert sorted(i.index for i in (*first.items, *second.items)) == list(range(5))
    assert rig.budget().leases == 2
    rig.manager.tell(_batch_done(first))
    assert sorted(record.index for record in _exported(rig.exporter, 3)) == [
        i.index for i in first.items
    ]
    assert rig.budget().leases == 1, "the batch's lease is released once, when all returned"
    rig.manager.tell(_batch_done(second))
    finished = rig.finish_export()
    assert finished.counts.done == 5
    assert rig.budget().leases == 0


def test_a_crashed_batch_runs_each_item_again_alone_without_counting_an_attempt(
    batching_rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig = batching_rig
    rig.submit("j1", images[:3], tmp_path)
    batch = rig.pool.expect(ProcessBatch)
    crashed = {item.index: "worker.crashed" for item in batch.items}
    rig.manager.tell(_batch_done(batch, failed=crashed))
    alone = [rig.pool.expect(Process) for _ in range(2)]
    rig.supervisor.expect_nothing()  # no recovery decision: not the items' fault yet
    assert {p.attempt for p in alone} == {1}
    rig.manager.tell(_done(alone[0]))
    rig.manager.tell(_failed(alone[1], "worker.crashed"))
    decide = rig.supervisor.expect(DecideRecovery)
    assert (decide.index, decide.reason, decide.attempt) == (alone[1].index, "worker.crashed", 1)


def test_an_item_failing_on_its_own_in_a_batch_goes_to_the_supervisor(
    batching_rig: Rig, images: list[Path], tmp_path: Path
) -> None:
    rig = batching_rig
    rig.submit("j1", images[:3], tmp_path)
    batch = rig.pool.expect(ProcessBatch)
    bad = batch.items[1].index
    rig.manager.tell(_batch_done(batch, failed={bad: "input.truncated"}))
    decide = rig.supervisor.expect(DecideRecovery)
    assert (decide.index, decide.reason) == (bad, "input.truncated")
    rig.pool.expect_nothing()
