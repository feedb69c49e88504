"""The ProcessorPool and its Processors: each Processor owns one worker process."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import pykka

from pixelmill.actors import fork_server, worker
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.worker import WorkerSettings
from pixelmill.messages import (
    AbandonJob,
    BatchDone,
    ChildActorExited,
    ItemDone,
    ItemFailed,
    Process,
    ProcessBatch,
    ProcessorIdle,
)

__all__ = ["Processor", "ProcessorPool"]


@dataclass(frozen=True, slots=True)
class _Returned:
    """A worker's answer for an item, brought back into the Processor's thread."""

    token: int
    outcome: Any


@dataclass(frozen=True, slots=True)
class _Started:
    """The worker process of an executor generation is up, with this pid."""

    generation: int
    pid: int


@dataclass(frozen=True, slots=True)
class _Deadline:
    """The time limit of the item with this token is up."""

    token: int


Work = Process | ProcessBatch


class Processor(Actor):
    """Runs one item (or batch of small items) at a time in its own worker process,
    and replaces the process if it dies.

    The actor never blocks on the worker: the executor's completion callback
    tells the result back to the actor, which stays responsive meanwhile. An
    item past its time limit has its worker killed (`worker.timeout`); a
    worker that dies mid-item (`worker.crashed`) is replaced before the next.
    """

    actor_role = "processor"

    def __init__(
        self,
        context: ActorContext,
        *,
        index: int,
        pool: pykka.ActorRef[Any],
        settings: WorkerSettings,
    ) -> None:
        super().__init__(context, supervisor_role=Role.PROCESSOR_POOL)
        self.actor_peers[Role.PROCESSOR_POOL] = pool
        self.actor_log = self.actor_log.bind(worker=index)
        self._index = index
        self._pool = pool
        self._settings = settings
        self._executor: Any = None
        """A one-process `ProcessPoolExecutor`, or a Ray actor with the same calls."""
        self._broken: tuple[type[BaseException], ...] = (BrokenProcessPool,)
        self._generation = 0
        self._pid: int | None = None
        self._tokens = itertools.count()
        self._running: tuple[int, Work, Future[Any]] | None = None
        self._timed_out: int | None = None
        self._deadline_key = -1

    def on_start(self) -> None:
        """Starts the worker process ahead of the first item (in the actor's thread)."""
        self._new_executor()

    def on_stop(self) -> None:
        """Ends the worker: at once if an item still runs, else after it is idle.

        The Runtime drains (or cancels and waits for) running items before it
        stops its actors, so an item still running here was given up on.
        """
        self._end_executor(wait=self._running is None)

    def on_failure(self, *exc_info: Any) -> None:
        self._end_executor(wait=False)
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case Process() | ProcessBatch():
                self._submit(message)
            case _Returned(token=token, outcome=outcome):
                self._answer(token, outcome)
            case _Started(generation=generation, pid=pid) if generation == self._generation:
                self._pid = pid
            case _Started():
                pass  # the pid of an executor already replaced
            case _Deadline(token=token):
                self._deadline(token)
            case AbandonJob(job_id=job_id):
                if self._running is not None and self._running[1].job_id == job_id:
                    self._kill_worker()
            case _:
                return super().handle(message)
        return None

    # -- the worker process -------------------------------------------------

    def _new_executor(self) -> None:
        self._generation += 1
        self._pid = None
        if self._settings.backend == "ray":
            from pixelmill.actors import ray_worker  # only with the `ray` extra

            self._executor = ray_worker.RayWorkerHandle(self._settings.memory_mb)
            self._broken = (BrokenProcessPool, *ray_worker.dead_worker_errors)
            warm = self._executor.warm_up()
        else:
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=fork_server.worker_context(),
                initializer=worker.init_worker,
                initargs=(self._settings.memory_mb,),
            )
            warm = self._executor.submit(worker.warm_up)
        generation, actor_ref = self._generation, self.actor_ref

        def started(done: Future[int]) -> None:
            if not done.cancelled() and done.exception() is None:
                _tell_unless_dead(actor_ref, _Started(generation, done.result()))

        warm.add_done_callback(started)

    def _end_executor(self, *, wait: bool) -> None:
        if self._executor is None:
            return
        if not wait:
            self._kill_worker()
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self._executor = None

    def _kill_worker(self) -> None:
        """SIGKILL the worker process; its running future then fails as broken."""
        if hasattr(self._executor, "kill"):  # a Ray actor
            self._executor.kill()
            return
        # The executor's own table is the truth even before the warm-up
        # reported the pid; the attribute is CPython's, stable since 3.8.
        processes = getattr(self._executor, "_processes", None) or {}
        for pid in {*processes, *([self._pid] if self._pid else [])}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _replace_worker(self, why: str) -> None:
        self.actor_log.warning("worker.replaced", why=why)
        self._end_executor(wait=False)
        self._new_executor()

    # -- items ----------------------------------------------------------------

    def _submit(self, request: Work) -> None:
        token = next(self._tokens)
        options = {
            "faults": self._settings.faults,
            "min_free_mb": self._settings.min_free_mb,
            "plugins": request.plugins,
        }
        arguments: tuple[Any, ...]
        if isinstance(request, ProcessBatch):
            entries = [(item.path, item.target, item.attempt) for item in request.items]
            arguments = (worker.run_items, entries, request.pipeline)
        else:
            arguments = (worker.run_item, request.path, request.pipeline, request.target)
            options |= {"reduce": request.reduce, "attempt": request.attempt}
        assert self._executor is not None
        try:
            future = self._executor.submit(*arguments, **options)
        except BrokenProcessPool:
            # The worker died while idle (killed from outside): replace it quietly.
            self._replace_worker("died while idle")
            future = self._executor.submit(*arguments, **options)
        self._running = (token, request, future)
        actor_ref = self.actor_ref

        def returned(done: Future[Any]) -> None:
            # Runs in the executor's thread: only hand the outcome over.
            try:
                outcome = done.result()
            except BaseException as exc:  # noqa: BLE001 - carried to the actor, not lost
                outcome = exc
            _tell_unless_dead(actor_ref, _Returned(token, outcome))

        future.add_done_callback(returned)
        self._deadline_key = self.actor_timer.tell_later(
            self._settings.item_timeout_s, actor_ref, _Deadline(token)
        )

    def _deadline(self, token: int) -> None:
        if self._running is None or self._running[0] != token:
            return  # that item finished in time
        self._timed_out = token
        self._kill_worker()

    def _answer(self, token: int, outcome: Any) -> None:
        if self._running is None or self._running[0] != token:
            return
        request = self._running[1]
        self._running = None
        self.actor_timer.cancel(self._deadline_key)
        if isinstance(outcome, self._broken):
            timed_out = self._timed_out == token
            reason = "worker.timeout" if timed_out else "worker.crashed"
            what = (
                f"ran past its {self._settings.item_timeout_s:g} s limit and was stopped"
                if timed_out
                else "its worker process died while running it"
            )
            if self._executor is not None:
                self._replace_worker(reason)
            answer = _failed_all(request, self._index, reason, what)
        elif isinstance(outcome, BaseException):
            answer = _failed_all(
                request, self._index, "internal.error", f"{type(outcome).__name__}: {outcome}"
            )
        elif isinstance(request, ProcessBatch):
            answer = BatchDone(
                job_id=request.job_id,
                outcomes=tuple(
                    _item_answer(request.job_id, item.index, item.attempt, result, self._index)
                    for item, result in zip(request.items, outcome, strict=True)
                ),
            )
        else:
            answer = _item_answer(
                request.job_id, request.index, request.attempt, outcome, self._index
            )
        self._timed_out = None
        self.reply(request.reply_to, answer)
        self._pool.tell(ProcessorIdle(worker=self._index))


def _item_answer(
    job_id: str, index: int, attempt: int, outcome: Any, worker_index: int
) -> ItemDone | ItemFailed:
    key = {"job_id": job_id, "index": index, "attempt": attempt, "worker": worker_index}
    if isinstance(outcome, worker.WorkerFailure):
        return ItemFailed(**key, reason=outcome.reason, message=outcome.message)
    return ItemDone(**key, result=outcome)


def _failed_all(request: Work, worker_index: int, reason: str, what: str) -> Any:
    """The answer to `request` when none of its items has an outcome of its own."""
    entries = (
        [(item.index, item.attempt, item.path) for item in request.items]
        if isinstance(request, ProcessBatch)
        else [(request.index, request.attempt, request.path)]
    )
    failed = tuple(
        ItemFailed(job_id=request.job_id, index=index, attempt=attempt, reason=reason,
                   message=f"{path}: {what}", worker=worker_index)
        for index, attempt, path in entries
    )
    if isinstance(request, ProcessBatch):
        return BatchDone(job_id=request.job_id, outcomes=failed)
    return failed[0]


def _tell_unless_dead(ref: pykka.ActorRef[Any], message: Any) -> None:
    # A stopped Processor has nobody to act on it; its pool reports its item.
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)


class ProcessorPool(Actor):
    """Hands each `Process` to an idle Processor, queueing when all are busy.

    It supervises its Processors: one that dies is replaced at once and the
    item it held is answered `ItemFailed(worker.crashed)`, so no item is lost.
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
        self._busy: dict[int, Work] = {}
        self._queue: deque[Work] = deque()

    def on_start(self) -> None:
        """Starts every Processor and so every worker process (in the pool's thread)."""
        for index in range(self._size):
            self._processors[index] = self._start_processor(index)

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
            case Process() | ProcessBatch():
                self._queue.append(message)
                self._dispatch()
            case ProcessorIdle(worker=index):
                self._busy.pop(index, None)
                self._dispatch()
            case ChildActorExited():
                self._replace(message)
            case AbandonJob(job_id=job_id):
                self._queue = deque(p for p in self._queue if p.job_id != job_id)
                for index, request in self._busy.items():
                    if request.job_id == job_id:
                        self._processors[index].tell(message)
            case _:
                return super().handle(message)
        return None

    def _start_processor(self, index: int) -> pykka.ActorRef[Any]:
        return Processor.start(
            self._context, index=index, pool=self.actor_ref, settings=self._settings
        )

    def _dispatch(self) -> None:
        for index, ref in self._processors.items():
            if not self._queue:
                return
            if index not in self._busy:
                request = self._queue.popleft()
                self._busy[index] = request
                ref.tell(request)

    def _replace(self, exited: ChildActorExited) -> None:
        for index, ref in self._processors.items():
            if ref.actor_urn != exited.actor_urn:
                continue
            self._processors[index] = self._start_processor(index)
            lost = self._busy.pop(index, None)
            self.actor_log.warning("processor.restarted", worker=index, error=exited.message)
            if lost is not None:
                what = f"its processor died: {exited.message}"
                self.reply(lost.reply_to, _failed_all(lost, index, "worker.crashed", what))
            self._dispatch()
            return
