"""RayWorker through the WorkerBackend protocol, on a local Ray started on loopback."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

import pytest

from pixelmill.errors import BrokenWorkerError
from pixelmill.imaging.pipeline import ItemResult
from pixelmill.testing import write_image
from pixelmill.workers.backend import start_worker
from pixelmill.workers.faults import FaultPlan, FaultTarget
from pixelmill.workers.settings import WorkerSettings
from tests.workers._tasks import task

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelmill[ray]'")

SETTINGS = WorkerSettings(backend="ray",
                          faults=FaultPlan(targets=(FaultTarget("hang.png", "hang"),)))


@pytest.fixture(scope="module", autouse=True)
def _ray() -> Iterator[None]:
    from pixelmill.workers.ray_worker import ensure_ray

    started = ensure_ray(None)
    yield
    if started:
        ray.shutdown()


def test_a_ray_worker_runs_a_task_and_its_kill_fails_the_running_one_as_broken(
    tmp_path: Path,
) -> None:
    worker = start_worker(SETTINGS)
    try:
        assert worker.started.result(timeout=60) > 0
        (outcome,) = worker.submit(task(write_image(tmp_path / "a.png"))).result(timeout=60)
        assert isinstance(outcome, ItemResult)
        hanging = worker.submit(task(write_image(tmp_path / "hang.png")))
        time.sleep(0.5)
        worker.kill()
        with pytest.raises(BrokenWorkerError) as info:
            hanging.result(timeout=30)
        assert isinstance(info.value.__cause__, ray.exceptions.RayActorError)
        with pytest.raises(BrokenWorkerError):
            worker.died.result(timeout=30)
    finally:
        worker.shutdown(wait=False)


def test_a_ray_worker_that_dies_while_idle_is_seen_dead_at_once() -> None:
    worker = start_worker(SETTINGS)
    try:
        os.kill(worker.started.result(timeout=60), signal.SIGKILL)
        with pytest.raises(BrokenWorkerError):
            worker.died.result(timeout=30)
    finally:
        worker.shutdown(wait=False)
