"""LocalWorker through the WorkerBackend protocol, with a real worker process."""

from __future__ import annotations

import time
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import psutil
import pytest

from pixelmill.errors import BrokenWorkerError
from pixelmill.imaging.pipeline import ItemResult
from pixelmill.testing import is_gone, wait_until, write_broken_files, write_image
from pixelmill.workers.backend import start_worker
from pixelmill.workers.faults import FaultPlan, FaultTarget
from pixelmill.workers.local_worker import LocalWorker
from pixelmill.workers.process import WorkerFailure
from pixelmill.workers.settings import WorkerSettings
from tests.workers._tasks import task

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pixelmill.workers.backend import WorkerBackend

HANGS = WorkerSettings(faults=FaultPlan(targets=(FaultTarget("hang.png", "hang"),)))


def _gone(pid: int, timeout: float = 10) -> bool:
    wait_until(lambda: is_gone(pid), timeout, f"pid {pid} gone")
    return True


@pytest.fixture
def worker() -> Iterator[WorkerBackend]:
    worker = start_worker(HANGS)
    yield worker
    worker.shutdown(wait=False)


def test_the_local_backend_is_a_local_worker_and_an_unknown_one_is_refused() -> None:
    worker = start_worker(WorkerSettings())
    try:
        assert isinstance(worker, LocalWorker)
    finally:
        worker.shutdown(wait=True)
    with pytest.raises(ValueError, match="backend: expected one of local, ray, got 'gpu'"):
        start_worker(WorkerSettings(backend="gpu"))


def test_a_started_worker_reports_the_pid_of_its_own_process(worker: WorkerBackend) -> None:
    pid = worker.started.result(timeout=30)
    process = psutil.Process(pid)
    assert process.is_running()
    assert pid != psutil.Process().pid
    assert not worker.died.done(), "a local worker's death is seen at the next submit"


def test_a_task_gives_one_outcome_per_item_in_order(
    worker: WorkerBackend, tmp_path: Path
) -> None:
    good = write_image(tmp_path / "a.png", size=(64, 32), color=(10, 20, 30))
    broken = next(iter(write_broken_files(tmp_path).values()))
    first, second = worker.submit(task(good, broken)).result(timeout=30)
    assert isinstance(first, ItemResult)
    assert first.analyses["channel_stats"]["r"]["mean"] == 10
    assert isinstance(second, WorkerFailure)
    assert second.reason.startswith("input.")


def test_a_killed_workers_futures_fail_as_broken_and_it_takes_no_more_work(
    worker: WorkerBackend, tmp_path: Path
) -> None:
    pid = worker.started.result(timeout=30)
    hanging = worker.submit(task(write_image(tmp_path / "hang.png")))
    queued = worker.submit(task(write_image(tmp_path / "a.png")))
    # NOTE: that the first is running (hanging) in the worker cannot be seen from
    # here; a kill before it starts fails both alike, for a weaker reason.
    time.sleep(0.3)
    worker.kill()
    with pytest.raises(BrokenWorkerError) as info:
        hanging.result(timeout=30)
    assert isinstance(info.value.__cause__, BrokenProcessPool)
    with pytest.raises(BrokenWorkerError):
        queued.result(timeout=30)
    assert _gone(pid)
    with pytest.raises(BrokenWorkerError, match="died while idle"):
        worker.submit(task(tmp_path / "a.png"))


def test_shutting_down_without_waiting_kills_the_worker_and_fails_or_cancels_its_work(
    tmp_path: Path,
) -> None:
    worker = start_worker(HANGS)
    pid = worker.started.result(timeout=30)
    hanging = worker.submit(task(write_image(tmp_path / "hang.png")))
    queued = worker.submit(task(write_image(tmp_path / "a.png")))
    time.sleep(0.3)  # NOTE: as above, the first hangs in the worker by then
    worker.shutdown(wait=False)
    assert _gone(pid)
    for future in (hanging, queued):
        with pytest.raises((BrokenWorkerError, CancelledError)):
            future.result(timeout=30)
    assert worker.died.cancelled()


def test_shutting_down_an_idle_worker_and_waiting_ends_its_process(tmp_path: Path) -> None:
    # A Processor waits only when it holds no work: nothing is cut short.
    worker = start_worker(WorkerSettings())
    pid = worker.started.result(timeout=30)
    (outcome,) = worker.submit(task(write_image(tmp_path / "a.png"))).result(timeout=30)
    assert isinstance(outcome, ItemResult)
    worker.shutdown(wait=True)
    assert _gone(pid, timeout=1)
    assert worker.died.cancelled()
