"""A JobHandle and its JobResult on their own: buffering, dropping, waiting, raising."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pixelmill import JobAbortedError
from pixelmill.errors import ClosedRuntimeError
from pixelmill.messages import ItemFinished, ItemStatus, JobCounts, JobFinished, JobStatus
from pixelmill.runtime.handle import JobHandle, JobResult


def _handle(buffer: int = 3) -> tuple[JobHandle, list[tuple[str, bool]]]:
    cancels: list[tuple[str, bool]] = []
    handle = JobHandle("j", "job", export_dir=Path("/out"), event_buffer=buffer,
                       cancel=lambda job_id, abandon: cancels.append((job_id, abandon)))
    return handle, cancels


def _item(index: int) -> ItemFinished:
    return ItemFinished(job_id="j", index=index, path=f"/in/{index}", status=ItemStatus.DONE)


def _finished(status: JobStatus = JobStatus.COMPLETED) -> JobFinished:
    return JobFinished(job_id="j", name="job", status=status, counts=JobCounts(total=5, done=5),
                       reason="output.no_space" if status is JobStatus.ABORTED else None,
                       message="disk full" if status is JobStatus.ABORTED else None)


def test_a_reader_that_falls_behind_loses_the_oldest_events_never_the_last() -> None:
    handle, _ = _handle(buffer=3)
    for index in range(5):
        handle._deliver(_item(index))  # noqa: SLF001 - as the relay delivers
    handle._deliver(_finished())  # noqa: SLF001

    events = list(handle.events(timeout=1))

    assert [e.index for e in events if isinstance(e, ItemFinished)] == [3, 4]
    assert isinstance(events[-1], JobFinished)
    assert handle.events_dropped == 3


def test_the_final_event_is_kept_even_when_the_buffer_is_full_of_it() -> None:
    handle, _ = _handle(buffer=1)
    handle._deliver(_finished())  # noqa: SLF001
    for index in range(3):
        handle._deliver(_item(index))  # noqa: SLF001
    assert isinstance(next(handle.events(timeout=1)), JobFinished)


def test_wait_returns_the_result_delivered_from_another_thread() -> None:
    handle, _ = _handle()
    threading.Timer(0.05, handle._deliver, args=(_finished(),)).start()  # noqa: SLF001
    assert handle.wait(timeout=5).counts.done == 5
    assert handle.done()


def test_wait_times_out_with_a_timeout_error_and_a_broken_runtime_raises() -> None:
    handle, _ = _handle()
    with pytest.raises(TimeoutError, match="did not finish"):
        handle.wait(timeout=0.01)
    handle._break(ClosedRuntimeError("shut down"))  # noqa: SLF001
    with pytest.raises(ClosedRuntimeError):
        handle.wait(timeout=1)
    with pytest.raises(ClosedRuntimeError):
        list(handle.events(timeout=1))


def test_cancel_is_remembered_and_not_sent_once_the_job_is_over() -> None:
    handle, cancels = _handle()
    handle.cancel(abandon=True)
    assert handle.cancelled is True
    handle._deliver(_finished())  # noqa: SLF001
    handle.cancel()
    assert cancels == [("j", True)]


def test_raise_for_status_raises_for_an_aborted_job_only() -> None:
    completed = JobResult.from_message(_finished())
    assert completed.raise_for_status() is completed
    aborted = JobResult.from_message(_finished(JobStatus.ABORTED))
    with pytest.raises(JobAbortedError, match="aborted: output.no_space: disk full"):
        aborted.raise_for_status()
