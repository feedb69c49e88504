"""A worker process on this machine, forked from the fork server."""

from __future__ import annotations

import contextlib
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from pixelmill.errors import BrokenWorkerError
from pixelmill.workers import fork_server, process
from pixelmill.workers._broken import broken_on

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from pixelmill.workers.process import Outcome, ProbeTask, Task
    from pixelmill.workers.settings import WorkerSettings

__all__ = ["LocalWorker"]

_DEATHS = (BrokenProcessPool,)


class LocalWorker:
    """A `WorkerBackend`: one process in a one-process `ProcessPoolExecutor`.

    The process is forked from the fork server, ignores Ctrl-C, has its
    address space capped (`WorkerSettings.memory_mb`, see
    `process.init_worker`) and ends when this process does, however it died.
    Its death while idle is seen only at the next `submit`, which then raises:
    `died` stays pending.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        """Start the process and warm it up (in the caller's thread; it does not wait)."""
        self._settings = settings
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=fork_server.worker_context(),
            initializer=process.init_worker,
            initargs=(settings.memory_mb, os.getpid()),
        )
        self._pid: int | None = None
        self._process: BaseProcess | None = None
        self.started: Future[int] = broken_on(_DEATHS, self._executor.submit(process.warm_up))
        self.started.add_done_callback(self._remember_pid)
        self.died: Future[None] = Future()

    def _remember_pid(self, started: Future[int]) -> None:
        if not started.cancelled() and started.exception() is None:
            self._pid = started.result()
            processes = getattr(self._executor, "_processes", None) or {}
            self._process = processes.get(self._pid)

    def exit_signal(self) -> int | None:
        """The signal the worker process died of (9: SIGKILL), once it is known dead."""
        code = self._process.exitcode if self._process is not None else None
        return -code if code is not None and code < 0 else None

    def submit(self, task: Task | ProbeTask) -> Future[list[Outcome]]:
        try:
            future = self._executor.submit(
                process.run_task, task,
                faults=self._settings.faults, min_free_mb=self._settings.min_free_mb,
            )
        except BrokenProcessPool as exc:
            msg = "the worker process died while idle"
            raise BrokenWorkerError(msg) from exc
        return broken_on(_DEATHS, future)

    def kill(self) -> None:
        """SIGKILL the worker process; its running future then fails as broken."""
        # The executor's own table is the truth even before the warm-up
        # reported the pid; the attribute is CPython's, stable since 3.8.
        processes = getattr(self._executor, "_processes", None) or {}
        for pid in {*processes, *([self._pid] if self._pid else [])}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def shutdown(self, *, wait: bool) -> None:
        if not wait:
            self.kill()
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self.died.cancel()
