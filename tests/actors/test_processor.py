"""The ProcessorPool and its Processors through their messages, with real worker processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from pixelmill.actors.processor_pool import ProcessorPool
from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import OutputTarget, Pipeline
from pixelmill.messages import (
    AbandonJob,
    BatchDone,
    BatchItem,
    ItemDone,
    ItemFailed,
    Process,
    ProcessBatch,
)
from pixelmill.testing import live_workers, wait_until, write_broken_files, write_image
from pixelmill.workers.faults import FaultPlan, FaultTarget
from pixelmill.workers.settings import WorkerSettings

if TYPE_CHECKING:
    import pykka

    from pixelmill.actors.base import ActorContext
    from pixelmill.testing import Probe

PIPELINE = Pipeline.validated(steps=[ops.thumbnail(16), ops.save(format="png")],
                              analyses=["channel_stats"])


def _process(probe: Probe, path: Path, out: Path, index: int = 0) -> Process:
    out.mkdir(exist_ok=True)
    return Process(job_id="j", index=index, path=path, pipeline=PIPELINE,
                   target=OutputTarget(output_dir=out, stem=path.stem), reply_to=probe.ref)


def _workers() -> list[psutil.Process]:
    # Workers are forked by the fork server, itself a child of this process.
    return live_workers()


@pytest.fixture
def pool(context: ActorContext) -> pykka.ActorRef[Any]:
    return ProcessorPool.start(context, workers=2)


def test_an_item_is_processed_in_a_worker_and_answered_done(
    pool: pykka.ActorRef[Any], probe: Probe, tmp_path: Path
) -> None:
    write_image(tmp_path / "a.png", size=(64, 32), color=(10, 20, 30))
    pool.tell(_process(probe, tmp_path / "a.png", tmp_path / "out"))
    done = probe.expect(ItemDone, timeout=30)
    assert done.result.outputs == (str(tmp_path / "out" / "a.png"),)
    assert (done.result.width, done.result.height) == (16, 8)
    assert done.result.analyses["channel_stats"]["r"]["mean"] == 10


def test_a_broken_file_is_answered_failed_with_its_class(
    pool: pykka.ActorRef[Any], probe: Probe, tmp_path: Path
) -> None:
    broken = write_broken_files(tmp_path / "bad")
    (_kind, path), *_ = broken.items()
    pool.tell(_process(probe, path, tmp_path / "out"))
    failed = probe.expect(ItemFailed, timeout=30)
    assert failed.reason.startswith("input.")
    assert str(path) in failed.message


def test_a_batch_runs_in_one_worker_and_is_answered_item_by_item_in_order(
    pool: pykka.ActorRef[Any], probe: Probe, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    paths = [write_image(tmp_path / f"{i}.png", size=(32, 32), color=(i * 40, 0, 0))
             for i in range(3)]
    broken = next(iter(write_broken_files(tmp_path / "bad").values()))
    items = tuple(
        BatchItem(index=index, path=path, target=OutputTarget(output_dir=out, stem=path.stem))
        for index, path in enumerate([paths[0], broken, paths[1], paths[2]])
    )
    pool.tell(ProcessBatch(job_id="j", items=items, pipeline=PIPELINE, reply_to=probe.ref))
    answer = probe.expect(BatchDone, timeout=30)
    assert [o.index for o in answer.outcomes] == [0, 1, 2, 3]
    assert len({o.worker for o in answer.outcomes}) == 1
    done = [o for o in answer.outcomes if isinstance(o, ItemDone)]
    assert [d.result.analyses["channel_stats"]["r"]["mean"] for d in done] == [0, 40, 80]
    (failed,) = [o for o in answer.outcomes if isinstance(o, ItemFailed)]
    assert failed.index == 1 and failed.reason.startswith("input.")


def test_a_batch_whose_worker_dies_fails_every_item_as_crashed(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    paths = [write_image(tmp_path / f"{i}.png") for i in range(3)]
    plan = FaultPlan(targets=(FaultTarget("1.png", "crash"),))
    pool = ProcessorPool.start(context, workers=1, settings=WorkerSettings(faults=plan))
    (tmp_path / "out").mkdir()
    items = tuple(
        BatchItem(index=i, path=p, target=OutputTarget(output_dir=tmp_path / "out", stem=p.stem))
        for i, p in enumerate(paths)
    )
    pool.tell(ProcessBatch(job_id="j", items=items, pipeline=PIPELINE, reply_to=probe.ref))
    answer = probe.expect(BatchDone, timeout=30)
    assert [(o.index, getattr(o, "reason", None)) for o in answer.outcomes] == [
        (0, "worker.crashed"), (1, "worker.crashed"), (2, "worker.crashed")
    ], "item 0's result died with the worker: the batch answers as one"
    pool.tell(_process(probe, paths[0], tmp_path / "out"))
    assert probe.expect(ItemDone, timeout=30).index == 0, "the worker was replaced"


def test_more_items_than_workers_all_get_answered(
    pool: pykka.ActorRef[Any], probe: Probe, tmp_path: Path
) -> None:
    for index in range(6):
        write_image(tmp_path / f"{index}.png")
        pool.tell(_process(probe, tmp_path / f"{index}.png", tmp_path / "out", index=index))
    answers = [probe.expect(ItemDone, timeout=30) for _ in range(6)]
    assert sorted(a.index for a in answers) == list(range(6))
    assert {a.worker for a in answers} <= {0, 1}


def test_a_killed_worker_is_replaced_and_the_next_item_still_runs(
    pool: pykka.ActorRef[Any], probe: Probe, tmp_path: Path
) -> None:
    write_image(tmp_path / "a.png")
    out = tmp_path / "out"
    pool.tell(_process(probe, tmp_path / "a.png", out))
    probe.expect(ItemDone, timeout=30)
    wait_until(lambda: len(_workers()) >= 2, 10, "both workers")
    for process in _workers():
        os.kill(process.pid, signal.SIGKILL)
    for index in range(2):
        pool.tell(_process(probe, tmp_path / "a.png", out, index=index + 1))
    answers = [probe.next(timeout=30) for _ in range(2)]
    assert all(isinstance(a, ItemDone | ItemFailed) for a in answers)
    for answer in answers:
        if isinstance(answer, ItemFailed):
            assert answer.reason == "worker.crashed"
    pool.tell(_process(probe, tmp_path / "a.png", out, index=9))
    assert probe.expect(ItemDone, timeout=30).index == 9


def test_work_queued_behind_a_crashing_item_runs_on_the_new_worker(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    crashing, after = write_image(tmp_path / "a.png"), write_image(tmp_path / "b.png")
    settings = WorkerSettings(faults=FaultPlan(targets=(FaultTarget("a.png", "crash"),)))
    one = ProcessorPool.start(context, workers=1, settings=settings)
    # One worker holds both: the second is queued in it when the first crashes.
    one.tell(_process(probe, crashing, tmp_path / "out", index=0))
    one.tell(_process(probe, after, tmp_path / "out", index=1))
    first, second = probe.next(timeout=30), probe.next(timeout=30)
    assert isinstance(first, ItemFailed)
    assert (first.index, first.reason) == (0, "worker.crashed")
    assert isinstance(second, ItemDone), "the queued item never started: it is not charged"
    assert second.index == 1


def test_abandoning_a_job_stops_its_running_item_and_never_starts_its_queued_one(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    hangs, queued, later = (write_image(tmp_path / f"{n}.png") for n in ("a", "b", "c"))
    settings = WorkerSettings(faults=FaultPlan(targets=(FaultTarget("a.png", "hang"),)))
    one = ProcessorPool.start(context, workers=1, settings=settings)
    out = tmp_path / "out"
    one.tell(_process(probe, hangs, out, index=0))
    one.tell(_process(probe, queued, out, index=1))
    # The first hangs in the worker, the second waits behind it.
    wait_until(lambda: len(_workers()) >= 1, 10, "the worker")
    one.tell(AbandonJob(job_id="j"))
    answers = [probe.next(timeout=30), probe.next(timeout=30)]
    assert sorted(a.index for a in answers) == [0, 1]
    assert all(isinstance(a, ItemFailed) for a in answers)
    one.tell(_process(probe, later, out, index=2))
    assert probe.expect(ItemDone, timeout=30).index == 2, "the pool goes on with a new worker"
    assert not (out / "b.png").exists(), "the abandoned job's queued item never ran"
