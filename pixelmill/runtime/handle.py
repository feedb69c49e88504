"""`JobHandle`: the host's view of one submitted job."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.errors import ClosedRuntimeError, JobAbortedError, PixelmillError
from pixelmill.messages import (
    IgnoredFiles,
    ItemFinished,
    JobCounts,
    JobFinished,
    JobProgress,
    JobStatus,
)
from pixelmill.messages.export import REPORT_HTML, SUMMARY_JSON

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["JobEvent", "JobHandle", "JobResult"]

JobEvent = ItemFinished | JobProgress | JobFinished
"""What `JobHandle.events()` yields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    """How a job ended. `counts` add up: done + failed + skipped + cancelled == total."""

    job_id: str
    name: str
    status: JobStatus
    counts: JobCounts
    reason: str | None
    """Why the job was aborted, as a dotted class (`output.no_space`), or None."""
    message: str | None
    export_files: tuple[Path, ...]
    duration_s: float
    ignored: IgnoredFiles = field(default_factory=IgnoredFiles)
    """Files under the input directories that are no item: counted by reason, the
    first of each listed (as `summary.json`'s `ignored`)."""

    def raise_for_status(self) -> JobResult:
        """Raise `JobAbortedError` if the job was aborted; else return this result.

        As httpx's `Response.raise_for_status`: for a host that treats an
        aborted job as an error, `runtime.submit(spec).wait().raise_for_status()`.
        A completed job whose items failed is not an error here: see `ok` and
        `counts`. The error's message starts with the reason class.
        """
        if self.status is JobStatus.ABORTED:
            raise JobAbortedError(f"job {self.job_id} aborted: {self.reason}: {self.message}")
        return self

    @property
    def ok(self) -> bool:
        """True when the job completed and every item is done."""
        return self.status is JobStatus.COMPLETED and self.counts.succeeded == self.counts.total

    @property
    def summary_path(self) -> Path | None:
        """The job's `summary.json`, when the export was written."""
        return next((p for p in self.export_files if p.name == SUMMARY_JSON), None)

    @property
    def report_path(self) -> Path | None:
        """The job's `report.html`, when it was written."""
        return next((p for p in self.export_files if p.name == REPORT_HTML), None)

    @classmethod
    def from_message(cls, finished: JobFinished) -> JobResult:
        return cls(
            job_id=finished.job_id,
            name=finished.name,
            status=finished.status,
            counts=finished.counts,
            reason=finished.reason,
            message=finished.message,
            export_files=tuple(Path(p) for p in finished.export_files),
            duration_s=finished.duration_s,
            ignored=finished.ignored,
        )


class JobHandle:
    """Follows one job: wait for it, read its progress, cancel it, iterate its events.

    Safe to use from any host thread. Events are buffered from the start, up
    to `event_buffer` (1,000): when nobody reads them, or the reader falls
    behind, the oldest are dropped (counted in `events_dropped`), never the
    final `JobFinished`; so a host that never iterates `events()` holds a
    bounded few MB, whatever the job's size. The latest progress is always
    kept, for `progress()`.
    """

    def __init__(
        self,
        job_id: str,
        name: str,
        *,
        export_dir: Path,
        cancel: Callable[[str, bool], None],
        on_event: Callable[[JobEvent], None] | None = None,
        event_buffer: int = 1_000,
    ) -> None:
        self.job_id = job_id
        self.name = name
        self.export_dir = export_dir
        self.events_dropped = 0
        self.cancelled: bool | None = None
        """None until `cancel` is called; then its `abandon`."""
        self._cancel = cancel
        self._on_event = on_event
        self._changed = threading.Condition()
        self._events: deque[JobEvent] = deque()
        self._event_buffer = event_buffer
        self._progress: JobProgress | None = None
        self._result: JobResult | None = None
        self._error: PixelmillError | None = None
        self._started = time.monotonic()
        self._waker: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} {self.name!r}>"

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the job ends and return its result.

        Raises:
            TimeoutError: the job did not end within `timeout` seconds.
            PixelmillError: the runtime broke or was closed under the job.
        """
        with self._changed:
            if not self._changed.wait_for(
                lambda: self._result is not None or self._error is not None, timeout
            ):
                raise TimeoutError(f"job {self.job_id} did not finish within {timeout} s")
            if self._result is not None:
                return self._result
            assert self._error is not None
            raise self._error

    def done(self) -> bool:
        """True once the job has ended (or can never end)."""
        with self._changed:
            return self._result is not None or self._error is not None

    def progress(self) -> JobProgress:
        """The latest progress snapshot; counts before the first item finished are zero."""
        with self._changed:
            if self._progress is not None:
                return self._progress
            status = self._result.status if self._result else JobStatus.RUNNING
            counts = self._result.counts if self._result else JobCounts()
            return JobProgress(
                job_id=self.job_id,
                status=status,
                counts=counts,
                expanded=self._result is not None,
                running=0,
                elapsed_s=time.monotonic() - self._started,
            )

    def cancel(self, *, abandon: bool = False) -> None:
        """Stop the job: nothing more starts; items not yet run end `cancelled`.

        Args:
            abandon: also stop the items running now (their workers are
                killed and replaced) instead of letting them finish.

        Every lease is released either way, and `summary.json` is still
        written, with the cancelled items marked `cancelled`.
        """
        if not self.done():
            self.cancelled = abandon or bool(self.cancelled)
            self._cancel(self.job_id, abandon)

    def events(self, timeout: float | None = None) -> Iterator[JobEvent]:
        """Yield the job's events as they come, ending after `JobFinished`.

        Raises:
            TimeoutError: no event came within `timeout` seconds.
            PixelmillError: the runtime broke or was closed under the job.
        """
        while True:
            with self._changed:
                if not self._changed.wait_for(
                    lambda: bool(self._events) or self._error is not None, timeout
                ):
                    raise TimeoutError(f"no event from job {self.job_id} within {timeout} s")
                if not self._events and self._error is not None:
                    raise self._error
                event = self._events.popleft()
            yield event
            if isinstance(event, JobFinished):
                return

    def has_events(self) -> bool:
        """True when `events()` would yield at once."""
        with self._changed:
            return bool(self._events)

    def _deliver(self, event: Any) -> None:
        """Called by the runtime's relay thread for each event of this job."""
        with self._changed:
            if isinstance(event, JobProgress):
                self._progress = event
            elif isinstance(event, JobFinished):
                self._result = JobResult.from_message(event)
                self._progress = JobProgress(
                    job_id=self.job_id,
                    status=event.status,
                    counts=event.counts,
                    expanded=True,
                    running=0,
                    elapsed_s=event.duration_s,
                )
            self._events.append(event)
            while len(self._events) > self._event_buffer and not isinstance(
                self._events[0], JobFinished
            ):
                self._events.popleft()
                self.events_dropped += 1
            self._changed.notify_all()
            waker = self._waker
        if waker is not None:
            waker()
        if self._on_event is not None:
            self._on_event(event)

    def _break(self, error: PixelmillError) -> None:
        """The job can never finish: make every waiter raise `error`."""
        with self._changed:
            if self._result is not None or self._error is not None:
                return
            self._error = error
            self._changed.notify_all()
            waker = self._waker
        if waker is not None:
            waker()

    def _set_waker(self, waker: Callable[[], None]) -> None:
        """Call `waker()` after every change from now on (an event, the end, a break).

        For `AsyncJobHandle`, whose waiters are on an event loop rather than on
        this handle's condition. It runs in the thread that made the change (the
        relay's, or the one shutting down) and must not block. Called at once
        when the job has already ended, so that the end is never missed.
        """
        with self._changed:
            self._waker = waker
            ended = self._result is not None or self._error is not None
        if ended:
            waker()

    def _closed(self) -> None:
        self._break(ClosedRuntimeError(f"the runtime was shut down before job {self.job_id} ended"))
