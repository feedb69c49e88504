"""`AsyncRuntime`: the Runtime for asyncio and trio hosts, on anyio.

It is a `Runtime` (the same actors, configuration, errors and semantics) with
an async face, as httpx has `AsyncClient` beside `Client`. What it adds is the
way job events reach the event loop: one hand-off per runtime, no thread and
no poll per handle or per waiting task.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.lowlevel
import anyio.to_thread

from pixelmill.errors import BusyRuntimeError, ClosedRuntimeError, PixelmillError
from pixelmill.messages import JobFinished
from pixelmill.runtime._main_guard import refuse_unguarded_main
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.runtime import Runtime
from pixelmill.runtime.statistics import RuntimeStatistics

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from pixelmill.messages import Budget, JobProgress, Metrics
    from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult
    from pixelmill.runtime.spec import JobSpec
    from pixelmill.store import JobRow

__all__ = ["AsyncJobHandle", "AsyncRuntime"]


class _HandOff:
    """Carries wake-ups from the runtime's threads to its event loop: one per AsyncRuntime.

    A runtime thread (the relay's, or the one shutting down) marks a handle
    that changed; the first mark after a drain schedules one call of `_drain`
    in the loop (`run_sync_soon`: asyncio's `call_soon_threadsafe`, trio's
    `TrioToken.run_sync_soon`), which never blocks the marking thread. The
    drain, in the loop's thread, wakes the tasks waiting on each marked
    handle. However many handles and events, at most one call is pending.
    """

    def __init__(self, wake: Callable[[list[AsyncJobHandle]], None]) -> None:
        self._token = anyio.lowlevel.current_token()
        self._wake = wake
        self._lock = threading.Lock()
        self._marked: dict[AsyncJobHandle, None] = {}
        self._scheduled = False

    def mark(self, handle: AsyncJobHandle) -> None:
        """Any thread: `handle` changed (an event, its end, a break)."""
        with self._lock:
            self._marked[handle] = None
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._token.backend_class.run_sync_soon(self._drain, (), self._token.native_token)
        except RuntimeError:
            # The loop has ended (trio's RunFinishedError is a RuntimeError):
            # no task waits there any more.
            with self._lock:
                self._scheduled = False

    def _drain(self) -> None:
        """The loop's thread: wake what waits on the handles marked so far."""
        with self._lock:
            marked, self._marked = list(self._marked), {}
            self._scheduled = False
        self._wake(marked)


class AsyncJobHandle:
    """Follows one job from async code: `await wait()`, `async for event in events()`.

    The async twin of `JobHandle`, over the same buffer of events (up to
    1,000 unread; the oldest are dropped first, never `JobFinished`). Use it
    from the event loop that submitted the job.

    Cancelling a task that awaits `wait()` or iterates `events()` stops that
    task only: the job goes on. To stop the job, `await handle.cancel()`.
    """

    def __init__(self, handle: JobHandle) -> None:
        self._handle = handle
        self._waiters: list[anyio.Event] = []
        self.job_id = handle.job_id
        self.name = handle.name
        self.export_dir: Path = handle.export_dir

    def __repr__(self) -> str:
        return f"<AsyncJobHandle {self.job_id} {self.name!r}>"

    @property
    def events_dropped(self) -> int:
        """Events dropped because nobody read them in time."""
        return self._handle.events_dropped

    def done(self) -> bool:
        """True once the job has ended (or can never end)."""
        return self._handle.done()

    def progress(self) -> JobProgress:
        """The latest progress snapshot (never waits)."""
        return self._handle.progress()

    async def wait(self) -> JobResult:
        """Wait for the job to end and return its result.

        Bound the wait with the host's own cancel scope (`anyio.fail_after`,
        `trio.move_on_after`, `asyncio.timeout`): that cancels the waiting,
        not the job.

        Raises:
            PixelmillError: the runtime broke or was closed under the job.
        """
        await anyio.lowlevel.checkpoint()
        while not self._handle.done():
            await self._changed()
        return self._handle.wait(0)

    def events(self) -> _EventStream:
        """The job's events as they come, ending after `JobFinished`.

        `async for event in handle.events():` yields `ItemFinished`,
        `JobProgress` and `JobFinished`. Breaking out, or cancelling the task,
        leaves the job running; the events not read stay buffered.

        Raises:
            PixelmillError: the runtime broke or was closed under the job.
        """
        return _EventStream(self)

    async def cancel(self, *, abandon: bool = False) -> None:
        """Stop the job: nothing more starts; items not yet run end `cancelled`.

        As `JobHandle.cancel`: with `abandon`, the items running now are stopped
        too. Returns once the JobManager has been told, not when the job ends.
        """
        await anyio.to_thread.run_sync(functools.partial(self._handle.cancel, abandon=abandon))

    async def _changed(self) -> None:
        """Wait for the next wake-up of this handle.

        The caller checks the handle's state before calling, with no await in
        between: a change after that check is marked, and its drain runs in
        this loop after this task has registered, so it is never missed.
        """
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        finally:
            if event in self._waiters:
                self._waiters.remove(event)

    def _wake(self) -> None:
        """The loop's thread: wake every task waiting on this handle."""
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()

    def _next_event(self) -> JobEvent | None:
        """The next buffered event, None when there is none yet (never waits).

        Raises:
            StopAsyncIteration: the job ended and its last event was taken.
            PixelmillError: the job can never end.
        """
        if not (self._handle.has_events() or self._handle.done()):
            return None
        try:
            return next(self._handle.events(timeout=0))
        except TimeoutError:
            # Ended, and `JobFinished` was taken by another reader.
            raise StopAsyncIteration from None


class _EventStream:
    """`AsyncJobHandle.events()`: an async iterator with nothing to clean up when dropped."""

    def __init__(self, handle: AsyncJobHandle) -> None:
        self._handle = handle
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> JobEvent:
        await anyio.lowlevel.checkpoint()
        if self._ended:
            raise StopAsyncIteration
        while True:
            event = self._handle._next_event()  # noqa: SLF001 - the stream is the handle's reader
            if event is not None:
                break
            await self._handle._changed()  # noqa: SLF001
        self._ended = isinstance(event, JobFinished)
        return event


class AsyncRuntime:
    """An embedded pixelmill for async hosts (asyncio or trio, through anyio).

    ```python
    async with AsyncRuntime(workers=2) as runtime:
        handle = await runtime.submit(spec)
        async for event in handle.events():
            ...
        result = await handle.wait()
    ```

    It takes what `Runtime` takes (a `RuntimeConfig` and keyword overrides),
    raises what it raises, and runs the same actors. Its methods never block
    the event loop: what waits for the actors (starting, submitting,
    cancelling, reading the job store, stopping) runs in a worker thread for
    that one call; what waits for a job (`wait`, `events`, `submit` waiting
    for room among `max_jobs`) waits on the loop itself, woken through one
    hand-off per runtime.

    Leaving `async with` normally waits for every job to end (drains);
    leaving it by an exception, cancellation included, cancels the jobs
    first (running items finish, the rest end `cancelled`) and then stops,
    as `Runtime` does. Cancelling a task that waits on a job does not cancel
    the job. Use it from one event loop.

    Raises:
        ConfigError: a setting is invalid, or the main script starts the
            runtime outside `if __name__ == "__main__":`.
    """

    def __init__(self, config: RuntimeConfig | None = None, **overrides: Any) -> None:
        checked = config or RuntimeConfig()
        if overrides:
            checked = checked.replace(**overrides)
        # Here, in the host's thread: the Runtime itself starts in a worker thread,
        # where the script's frames cannot be seen.
        refuse_unguarded_main(backend=checked.backend)
        self.config = checked
        self._start = functools.partial(Runtime, config, **overrides)
        self._runtime: Runtime | None = None
        self._hand_off: _HandOff | None = None
        self._open: dict[str, AsyncJobHandle] = {}
        self._ended: list[anyio.Event] = []
        """Tasks waiting for any job to end (for room among `max_jobs`)."""
        self._closing = False

    async def __aenter__(self) -> Self:
        if self._runtime is not None or self._closing:
            raise RuntimeError("an AsyncRuntime is entered once")
        self._hand_off = _HandOff(self._woken)
        # Shielded: a Runtime started under a cancelled task must still be
        # stopped, which `__aexit__` does once the block sees the cancellation.
        with anyio.CancelScope(shield=True):
            self._runtime = await anyio.to_thread.run_sync(self._start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving by an exception (a cancellation included) cancels; leaving normally drains.
        await self.shutdown(drain=exc_type is None)

    @property
    def store_path(self) -> Path | None:
        """The job store this runtime records its jobs in, or None."""
        return self._running().store_path

    async def submit(self, spec: JobSpec) -> AsyncJobHandle:
        """Start a job and return its handle as soon as the job is accepted.

        When `max_jobs` jobs are open, wait (on the loop) for one to end.
        Cancelled while it waits, nothing was submitted; once the job is
        being handed over (milliseconds), it is submitted and its handle
        returned.

        Raises:
            ConfigError: the spec is invalid; the message names the field or step.
            ClosedRuntimeError: the runtime was shut down.
        """
        return await self._admit(lambda runtime: runtime.submit_nowait(spec))

    async def submit_nowait(self, spec: JobSpec) -> AsyncJobHandle:
        """Like `submit`, but raise `BusyRuntimeError` at once when `max_jobs` are open."""
        return await self._admitted(lambda runtime: runtime.submit_nowait(spec))

    async def resume(self, job_id: str) -> AsyncJobHandle:
        """Run an interrupted job again, as `Runtime.resume` does.

        Raises:
            ConfigError: no such job, or it completed, or no job store is kept.
            BusyJobError: another live process runs the job.
        """
        return await self._admit(lambda runtime: runtime.resume(job_id, timeout=0))

    async def jobs(self, limit: int | None = None) -> list[JobRow]:
        """Past and present jobs from the store, newest first."""
        return await anyio.to_thread.run_sync(self._running().jobs, limit)

    async def metrics(self) -> Metrics:
        """The Monitor's latest sample and its bounded history (see `Runtime.metrics`)."""
        return await anyio.to_thread.run_sync(self._running().metrics)

    async def budget(self) -> Budget:
        """The ResourceManager's budget: memory and CPU slots, held and free."""
        return await anyio.to_thread.run_sync(self._running().budget)

    async def statistics(self) -> RuntimeStatistics:
        """What the runtime has done and holds (see `Runtime.statistics`)."""
        return await anyio.to_thread.run_sync(self._statistics_blocking)

    async def wait_idle(self) -> list[JobResult]:
        """Wait for every open job to end; return their results."""
        return [await handle.wait() for handle in list(self._open.values())]

    async def shutdown(self, *, drain: bool = True) -> None:
        """Stop the runtime; idempotent.

        Args:
            drain: True waits for running jobs to end; False cancels them
                first (their running items still finish, the rest end
                `cancelled`). A drain that is itself cancelled turns into the
                latter, and the runtime is stopped all the same.
        """
        runtime = self._runtime
        if runtime is None or self._closing:
            return
        self._closing = True
        try:
            if drain:
                for handle in list(self._open.values()):
                    # A job that can never end is logged by the stop below.
                    with contextlib.suppress(PixelmillError):
                        await handle.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(functools.partial(runtime.shutdown, drain=False))

    def _running(self) -> Runtime:
        if self._runtime is None:
            raise ClosedRuntimeError(
                "the runtime is not running: use it as `async with AsyncRuntime(...) as runtime`"
            )
        return self._runtime

    def _statistics_blocking(self) -> RuntimeStatistics:
        """`Runtime.statistics()`, for a thread that may block (a metrics scrape)."""
        if self._runtime is None:
            return RuntimeStatistics()
        return self._runtime.statistics()

    async def _admit(self, start: Callable[[Runtime], JobHandle]) -> AsyncJobHandle:
        """Start a job, waiting on the loop for room among `max_jobs`."""
        while True:
            # Registered before trying, so that a job ending meanwhile wakes us.
            ended = anyio.Event()
            self._ended.append(ended)
            try:
                return await self._admitted(start)
            except BusyRuntimeError:
                await ended.wait()
            finally:
                if ended in self._ended:
                    self._ended.remove(ended)

    async def _admitted(self, start: Callable[[Runtime], JobHandle]) -> AsyncJobHandle:
        runtime = self._running()
        if self._closing:
            raise ClosedRuntimeError("the runtime is shut down; it accepts no more jobs")
        hand_off = self._hand_off
        assert hand_off is not None
        # Shielded: a job handed to the actors is kept track of, cancelled or not.
        with anyio.CancelScope(shield=True):
            handle = await anyio.to_thread.run_sync(start, runtime)
        async_handle = AsyncJobHandle(handle)
        self._open[handle.job_id] = async_handle
        handle._set_waker(functools.partial(hand_off.mark, async_handle))  # noqa: SLF001
        return async_handle

    def _woken(self, handles: list[AsyncJobHandle]) -> None:
        """The loop's thread: wake each marked handle's waiters, and room waiters on an end."""
        ended = False
        for handle in handles:
            handle._wake()  # noqa: SLF001 - the runtime's hand-off wakes its handles
            if handle.done():
                ended = True
                self._open.pop(handle.job_id, None)
        if ended:
            waiters, self._ended = self._ended, []
            for event in waiters:
                event.set()
