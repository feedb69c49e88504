"""The ProcessorPool: hands work to its Processors and replaces any that dies."""

from __future__ import annotations

from collections import deque
from typing import Any

import pykka

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.processor import DEPTH, Processor, Work, failed_all
from pixelmill.messages import (
    AbandonJob,
    ChildActorExited,
    ProbeHeaders,
    Process,
    ProcessBatch,
    ProcessorIdle,
)
from pixelmill.workers.settings import WorkerSettings

__all__ = ["ProcessorPool"]


class ProcessorPool(Actor):
    """Hands each `Process` (or `ProcessBatch`, or `ProbeHeaders`) to a Processor, queueing
    when all are full.

    Each Processor holds up to `DEPTH` pieces of work, so that its worker
    starts the next one the moment it finishes the last; work is spread
    evenly first (every Processor one, then every one a second).

    It supervises its Processors: one that dies (the actor, not its worker
    process) is replaced at once and all the work it held, queued or running,
    is answered `ItemFailed(worker.crashed)`, so none is lost. A ProcessorPool
    that dies takes its Processors and their workers with it; the JobManager
    then dispatches again to the new one what was running.
    """

    actor_role = Role.PROCESSOR_POOL

    def __init__(
        self, context: ActorContext, *, workers: int, settings: WorkerSettings | None = None
    ) -> None:
        super().__init__(context)
        if workers < 1:
            msg = f"workers must be at least 1, got {workers}"
            raise ValueError(msg)
        self._context = context
        self._size = workers
        self._settings = settings or WorkerSettings()
        self._processors: dict[int, pykka.ActorRef[Any]] = {}
        self._held: dict[int, deque[Work]] = {}
        """What each Processor was given and has not answered, oldest first."""
        self._queue: deque[Work] = deque()

    def on_start(self) -> None:
        """Starts every Processor and so every worker process (in the pool's thread)."""
        for index in range(self._size):
            self._processors[index] = self._start_processor(index)
            self._held[index] = deque()

    def on_stop(self) -> None:
        """Stops the Processors, each ending its worker."""
        for ref in self._processors.values():
            ref.stop(block=True, timeout=30)

    def on_failure(self, *exc_info: Any) -> None:
        for ref in self._processors.values():
            ref.stop(block=False)
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case Process() | ProcessBatch() | ProbeHeaders():
                self._queue.append(message)
                self._dispatch()
            case ProcessorIdle(worker=index):
                # A Processor answers its work in the order it was given.
                if self._held.get(index):
                    self._held[index].popleft()
                self._dispatch()
            case ChildActorExited():
                self._replace(message)
            case AbandonJob(job_id=job_id):
                self._queue = deque(p for p in self._queue if p.job_id != job_id)
                for index, held in self._held.items():
                    if any(work.job_id == job_id for work in held):
                        self._processors[index].tell(message)
            case _:
                return super().handle(message)
        return None

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        if role == Role.JOB_MANAGER:
            # Work queued for a JobManager that died would be answered to nobody:
            # the new one dispatches again what its jobs still need.
            alive = deque(work for work in self._queue if work.reply_to.is_alive())
            if len(alive) < len(self._queue):
                self.actor_log.info("work.orphans_dropped", work=len(self._queue) - len(alive))
            self._queue = alive
        return held

    def _start_processor(self, index: int) -> pykka.ActorRef[Any]:
        return Processor.start(
            self._context, index=index, pool=self.actor_ref, settings=self._settings
        )

    def _dispatch(self) -> None:
        for depth in range(1, DEPTH + 1):
            for index, ref in self._processors.items():
                if not self._queue:
                    return
                if len(self._held[index]) < depth:
                    work = self._queue.popleft()
                    self._held[index].append(work)
                    ref.tell(work)

    def _replace(self, exited: ChildActorExited) -> None:
        for index, ref in self._processors.items():
            if ref.actor_urn != exited.actor_urn:
                continue
            self._processors[index] = self._start_processor(index)
            lost, self._held[index] = self._held[index], deque()
            self.actor_log.warning("processor.restarted", worker=index, error=exited.message)
            what = f"its processor died: {exited.message}"
            for work in lost:
                self.reply(work.reply_to, failed_all(work, index, "worker.crashed", what))
            self._dispatch()
            return
