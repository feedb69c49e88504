"""The seam between a Processor and its worker: the `WorkerBackend` protocol, and the one
place that picks an implementation of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pixelmill.workers.local_worker import LocalWorker
from pixelmill.workers.settings import BACKENDS

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pixelmill.workers.process import Outcome, ProbeTask, Task
    from pixelmill.workers.settings import WorkerSettings

__all__ = ["WorkerBackend", "start_worker"]


class WorkerBackend(Protocol):
    """One worker process, as a Processor drives it, wherever it runs.

    The worker runs one `Task` (or `ProbeTask`) at a time, in the order they were submitted;
    the next waits in its queue. Every method is called from the
    Processor's thread; the futures complete in other threads, so their
    callbacks must only hand their outcome over.

    A worker that dies (a segfault, an out-of-memory kill, `kill`) fails the
    future of the task it ran and of those queued behind it with
    `pixelmill.errors.BrokenWorkerError`, whose `__cause__` is the backend's
    own error. A dead worker is not restarted: start another.
    """

    @property
    def started(self) -> Future[int]:
        """Completes with the worker's pid once it is up and warmed up.

        A Ray actor may first wait for a free CPU of the cluster, which is why
        a time limit should count from here, not from the submit.
        """
        ...

    @property
    def died(self) -> Future[None]:
        """Fails with `BrokenWorkerError` the moment the worker dies, even while idle.

        It never completes otherwise. A backend that cannot see an idle death
        (the local one) leaves it pending until `shutdown` cancels it, and
        its `submit` raises instead. After `kill` or `shutdown` it means nothing.
        """
        ...

    def submit(self, task: Task | ProbeTask) -> Future[list[Outcome]]:
        """Queue `task` in the worker; its future gives one outcome per item, in order.

        Raises:
            BrokenWorkerError: the worker is already known to be dead; nothing
                was queued.
        """
        ...

    def exit_signal(self) -> int | None:
        """The signal the worker died of (9 for SIGKILL, as the OOM killer sends), once
        its futures failed as broken; None while it lives, or where the backend
        cannot tell."""
        ...

    def kill(self) -> None:
        """Kill the worker now (SIGKILL, or `ray.kill`); its futures then fail as broken.

        Harmless when the worker is already dead.
        """
        ...

    def shutdown(self, *, wait: bool) -> None:
        """End the worker; tasks not started are cancelled.

        Args:
            wait: Block until the worker has ended of itself, once idle (a
                Processor asks this only of a worker it gave no work; a Ray
                actor ends at once either way); otherwise kill it now.
        """
        ...


def start_worker(settings: WorkerSettings) -> WorkerBackend:
    """Start one worker of `settings.backend`, warming it up.

    Raises:
        ValueError: `settings.backend` is none of `BACKENDS`.
        ImportError: the `ray` backend without Ray installed.
    """
    if settings.backend == "local":
        return LocalWorker(settings)
    if settings.backend == "ray":
        from pixelmill.workers.ray_worker import RayWorker  # only with the `ray` extra

        return RayWorker(settings)
    msg = f"backend: expected one of {', '.join(BACKENDS)}, got {settings.backend!r}"
    raise ValueError(msg)
