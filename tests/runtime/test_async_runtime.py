"""AsyncRuntime end to end, under asyncio and under trio: real actors, real workers."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest

import tests.runtime._slow_op  # noqa: F401 - registers test_pause here and in workers
from pixelmill import (
    AsyncRuntime,
    BusyRuntimeError,
    ClosedRuntimeError,
    ConfigError,
    JobSpec,
    JobStatus,
    ops,
)
from pixelmill.messages import ItemFinished, JobFinished, JobProgress
from pixelmill.testing import write_sample_set

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill import AsyncJobHandle, JobEvent

pytestmark = pytest.mark.anyio

# Each item pauses in its worker (tests/runtime/_slow_op.py), so that a test can
# act while the job runs; `batch_items=1` makes each item its own call.
SLOW = {"op": "test_pause", "ms": 300}


def _runtime(tmp_path: Path, **overrides: object) -> AsyncRuntime:
    return AsyncRuntime(workers=1, batch_items=1, state_dir=tmp_path / "state", **overrides)


def _spec(tmp_path: Path, count: int, *, name: str = "job", slow: bool = False) -> JobSpec:
    inputs = write_sample_set(tmp_path / f"in-{name}", count, seed=count)
    pipeline: list[object] = [SLOW] if slow else []
    return JobSpec(
        inputs=inputs,
        pipeline=[*pipeline, ops.thumbnail(32), ops.save(format="png")],  # type: ignore[list-item]
        analyses=["channel_stats"],
        export_dir=tmp_path / f"out-{name}",
        name=name,
    )


async def test_a_job_streams_its_events_and_its_result(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        handle = await runtime.submit(_spec(tmp_path, 5))
        events: list[JobEvent] = [event async for event in handle.events()]
        result = await handle.wait()
        jobs = await runtime.jobs()
    assert isinstance(events[-1], JobFinished)
    assert sorted(e.index for e in events if isinstance(e, ItemFinished)) == [0, 1, 2, 3, 4]
    assert [p.counts.finished for p in events if isinstance(p, JobProgress)] == [1, 2, 3, 4, 5]
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done == 5
    assert handle.progress().counts.done == 5
    assert [row.job_id for row in jobs] == [handle.job_id]


async def test_a_bad_spec_raises_config_error_naming_the_step(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        spec = JobSpec(inputs=[tmp_path], export_dir=tmp_path / "o",
                       pipeline=[{"op": "thumbnail", "size": -3}])
        with pytest.raises(ConfigError, match=r"pipeline step 1 \(thumbnail\): size"):
            await runtime.submit(spec)
    with pytest.raises(ClosedRuntimeError):
        await runtime.submit(_spec(tmp_path, 1))


async def test_cancelling_the_tasks_that_wait_on_a_job_does_not_cancel_it(
    tmp_path: Path,
) -> None:
    async with _runtime(tmp_path) as runtime:
        handle = await runtime.submit(_spec(tmp_path, 4, slow=True))
        first = anyio.Event()

        async def follow() -> None:
            async for event in handle.events():
                if isinstance(event, ItemFinished):
                    first.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow)
            tasks.start_soon(handle.wait)
            await first.wait()
            # NOTE: the other items pause 300 ms each, so the job is still running
            # here; if it were not, this test would pass without cancelling anything.
            tasks.cancel_scope.cancel()
        result = await handle.wait()
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done == 4


async def test_an_exception_inside_async_with_cancels_the_jobs(tmp_path: Path) -> None:
    handle: AsyncJobHandle | None = None
    with pytest.raises(KeyError, match="the host failed"):
        async with _runtime(tmp_path) as runtime:
            handle = await runtime.submit(_spec(tmp_path, 8, slow=True))
            raise KeyError("the host failed")
    assert handle is not None
    result = await handle.wait()
    assert result.status is JobStatus.CANCELLED
    assert result.counts.cancelled > 0
    assert result.counts.finished == result.counts.total == 8


async def test_a_cancelled_host_scope_cancels_the_jobs_and_still_stops(tmp_path: Path) -> None:
    handle: AsyncJobHandle | None = None
    with anyio.CancelScope() as scope:
        async with _runtime(tmp_path) as runtime:
            handle = await runtime.submit(_spec(tmp_path, 8, slow=True))
            scope.cancel()
            await anyio.sleep_forever()
    assert handle is not None
    assert (await handle.wait()).status is JobStatus.CANCELLED
    with pytest.raises(ClosedRuntimeError):
        await runtime.submit(_spec(tmp_path, 1, name="late"))


async def test_leaving_async_with_normally_drains_the_jobs(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        handle = await runtime.submit(_spec(tmp_path, 3, slow=True))
    assert handle.done()
    result = await handle.wait()
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done == 3


async def test_submit_waits_on_the_loop_for_room_among_max_jobs(tmp_path: Path) -> None:
    async with _runtime(tmp_path, max_jobs=1) as runtime:
        first = await runtime.submit(_spec(tmp_path, 2, name="first", slow=True))
        with pytest.raises(BusyRuntimeError):
            await runtime.submit_nowait(_spec(tmp_path, 1, name="refused"))
        second = await runtime.submit(_spec(tmp_path, 1, name="second"))
        assert first.done()  # the only way the second found room
        assert (await second.wait()).counts.done == 1


async def test_waiting_tasks_start_no_thread(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        # A first job, so that the worker and everything it starts are up.
        await (await runtime.submit(_spec(tmp_path, 1, name="warm"))).wait()
        handles = [await runtime.submit(_spec(tmp_path, 2, name=f"j{n}")) for n in range(3)]
        threads = threading.active_count()
        results = []

        async def follow(handle: AsyncJobHandle) -> None:
            async for _ in handle.events():
                pass
            results.append(await handle.wait())

        async with anyio.create_task_group() as tasks:
            for handle in handles:
                for _ in range(4):
                    tasks.start_soon(follow, handle)
            await anyio.wait_all_tasks_blocked()
            during = threading.active_count()
    # Idle worker threads of anyio's pool may end meanwhile, never start.
    assert during <= threads
    assert len(results) == 12
    assert all(result.status is JobStatus.COMPLETED for result in results)


async def test_a_cancelled_job_resumes(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        handle = await runtime.submit(_spec(tmp_path, 6, slow=True))
        await handle.cancel()
        cancelled = await handle.wait()
        resumed = await runtime.resume(handle.job_id)
        result = await resumed.wait()
    assert cancelled.status is JobStatus.CANCELLED
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done == 6


async def test_statistics_count_the_finished_items_and_jobs(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as runtime:
        await (await runtime.submit(_spec(tmp_path, 3))).wait()
        statistics = await runtime.statistics()
    assert statistics.jobs_finished == {"completed": 1}
    assert statistics.items_finished[("done", "")] == 3
    assert statistics.item_durations["done"].count == 3
    assert statistics.memory_mb is not None and statistics.memory_mb > 0
    assert statistics.rss_mb is not None and statistics.rss_mb > 0
