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
    BatchItem,
    ItemDone,
    ItemFailed,
    Process,
    ProcessBatch,
    ProcessorIdle,
)

__all__ = ["DEPTH", "Processor", "Work", "failed_all"]

DEPTH = 2
"""Pieces of work a Processor holds at once: the one its worker runs, and the
next, already in the worker's queue, so that no item waits for a round trip
through the actors between two others."""


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
class _Died:
    """The worker process of an executor generation died (seen by the Ray backend)."""

    generation: int


@dataclass(frozen=True, slots=True)
class _Deadline:
    """The time limit of the item with this token is up."""

    token: int


Work = Process | ProcessBatch


@dataclass(frozen=True, slots=True)
class _Held:
    """Work given to the worker: the first one held runs, the next waits its turn."""

    token: int
    work: Work


class Processor(Actor):
    """Runs items (or batches of small items) one at a time in its own worker process,
    and replaces the process if it dies.

    It holds up to `DEPTH` pieces of work: the worker runs the first and
    starts the next as soon as it is done. The actor never blocks on the
    worker: the executor's completion callback tells the result back to the
    actor, which stays responsive meanwhile. An item past its time limit
    (counted from when it started) has its worker killed (`worker.timeout`);
    a worker that dies mid-item (`worker.crashed`) is replaced, and the work
    queued behind that item, which never started, is given to the new one.
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
        self._held: deque[_Held] = deque()
        self._kill: tuple[int, str] | None = None
        """(token, why) of the work this actor killed its worker for: `timeout` or `abandon`."""
        self._abandoned: set[str] = set()
        """Jobs abandoned while this actor still held some of their work."""
        self._deadline_key = -1

    def on_start(self) -> None:
        """Starts the worker process ahead of the first item (in the actor's thread)."""
        self._new_executor()

    def on_stop(self) -> None:
        """Ends the worker: at once if an item still runs, else after it is idle.

        The Runtime drains (or cancels and waits for) running items before it
        stops its actors, so an item still running here was given up on.
        """
        self._end_executor(wait=not self._held)

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
                if self._held:
                    self._start_clock()  # the time limit counts from the worker's start
            case _Started():
                pass  # the pid of an executor already replaced
            case _Deadline(token=token):
                self._deadline(token)
            case _Died(generation=generation):
                self._died(generation)
            case AbandonJob(job_id=job_id):
                # Its running work is stopped now, its queued work never runs
                # (its leases are already released).
                if any(held.work.job_id == job_id for held in self._held):
                    self._abandoned.add(job_id)
                    if self._held[0].work.job_id == job_id:
                        self._kill_for(self._held[0].token, "abandon")
            case _:
                return super().handle(message)
        return None

    # -- the worker process -------------------------------------------------

    def _new_executor(self) -> None:
        self._generation += 1
        self._pid = None
        self._kill = None  # a kill meant for the last worker
        if self._settings.backend == "ray":
            from pixelmill.actors import ray_worker  # only with the `ray` extra

            self._executor = ray_worker.RayWorkerHandle(self._settings.memory_mb)
            self._broken = (BrokenProcessPool, *ray_worker.dead_worker_errors)
            warm = self._executor.warm_up()
            self._watch(self._executor.watch())
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

    def _watch(self, death: Future[None]) -> None:
        generation, actor_ref = self._generation, self.actor_ref

        def died(done: Future[None]) -> None:
            if not done.cancelled() and isinstance(done.exception(), self._broken):
                _tell_unless_dead(actor_ref, _Died(generation))

        death.add_done_callback(died)

    def _died(self, generation: int) -> None:
        # Held work fails on its own (and is answered); an idle worker that
        # died is replaced before it is given work, so no item is charged.
        if generation == self._generation and not self._held and self._executor is not None:
            self._replace_worker("died while idle")

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
            if self._held:
                # It died with work in it: that work's failure replays this too.
                self._held.append(_Held(token, request))
                return
            # The worker died while idle (killed from outside): replace it quietly.
            self._replace_worker("died while idle")
            future = self._executor.submit(*arguments, **options)
        self._held.append(_Held(token, request))
        actor_ref = self.actor_ref

        def returned(done: Future[Any]) -> None:
            # Runs in the executor's thread: only hand the outcome over.
            try:
                outcome = done.result()
            except BaseException as exc:
                outcome = exc
            _tell_unless_dead(actor_ref, _Returned(token, outcome))

        future.add_done_callback(returned)
        if len(self._held) == 1:
            self._start_clock()

    def _start_clock(self) -> None:
        """The time limit of the first work held, which the worker is running now.

        Not before the worker is up: a Ray actor may wait for a free CPU.
        """
        if self._pid is None:
            return
        first = self._held[0]
        items = len(first.work.items) if isinstance(first.work, ProcessBatch) else 1
        self._deadline_key = self.actor_timer.tell_later(
            self._settings.item_timeout_s * items, self.actor_ref, _Deadline(first.token)
        )

    def _deadline(self, token: int) -> None:
        if self._held and self._held[0].token == token:
            self._kill_for(token, "timeout")

    def _kill_for(self, token: int, why: str) -> None:
        self._kill = (token, why)
        self._kill_worker()

    def _answer(self, token: int, outcome: Any) -> None:
        if not self._held or self._held[0].token != token:
            return  # work re-given to a new worker answers under a new token
        head = self._held.popleft()
        request = head.work
        self.actor_timer.cancel(self._deadline_key)
        if isinstance(outcome, self._broken):
            self._worker_died(head)
        else:
            if isinstance(outcome, BaseException):
                what = f"{type(outcome).__name__}: {outcome}"
                answer = failed_all(request, self._index, "internal.error", what)
            elif isinstance(request, ProcessBatch):
                answer = BatchDone(
                    job_id=request.job_id,
                    outcomes=tuple(
                        _item_answer(request.job_id, item, result, self._index)
                        for item, result in zip(request.items, outcome, strict=True)
                    ),
                )
            else:
                answer = _item_answer(request.job_id, request, outcome, self._index)
            self._finish(request, answer)
            if self._held and self._held[0].work.job_id in self._abandoned:
                self._kill_for(self._held[0].token, "abandon")
            elif self._held:
                self._start_clock()
        self._abandoned &= {held.work.job_id for held in self._held}

    def _worker_died(self, head: _Held) -> None:
        """The worker died under `head`: answer it, unless a kill meant for work that
        had just finished hit it; replay the rest (never started) on a new worker."""
        kill, self._kill = self._kill, None
        innocent = kill is not None and kill[0] != head.token
        waiting = [held.work for held in self._held]
        self._held.clear()
        if innocent:
            waiting.insert(0, head.work)
            why = "killed between two items"
        else:
            why = {"timeout": "worker.timeout", "abandon": "abandoned"}.get(
                kill[1] if kill else "", "worker.crashed"
            )
            what = (
                f"ran past its {self._settings.item_timeout_s:g} s limit and was stopped"
                if why == "worker.timeout"
                else "its worker process died while running it"
            )
            reason = "worker.timeout" if why == "worker.timeout" else "worker.crashed"
            self._finish(head.work, failed_all(head.work, self._index, reason, what))
        if self._executor is None:
            return  # stopping: nothing more runs
        self._replace_worker(why)
        for work in waiting:
            if work.job_id in self._abandoned:
                gone = "its job was abandoned"
                self._finish(work, failed_all(work, self._index, "worker.crashed", gone))
            else:
                self._submit(work)

    def _finish(self, work: Work, answer: Any) -> None:
        self.reply(work.reply_to, answer)
        self._pool.tell(ProcessorIdle(worker=self._index))


def _item_answer(
    job_id: str, item: Process | BatchItem, outcome: Any, worker_index: int
) -> ItemDone | ItemFailed:
    key = {"job_id": job_id, "index": item.index, "attempt": item.attempt, "run": item.run,
           "worker": worker_index}
    if isinstance(outcome, worker.WorkerFailure):
        return ItemFailed(**key, reason=outcome.reason, message=outcome.message)
    return ItemDone(**key, result=outcome)


def failed_all(request: Work, worker_index: int, reason: str, what: str) -> Any:
    """The answer to `request` when none of its items has an outcome of its own."""
    entries = request.items if isinstance(request, ProcessBatch) else (request,)
    failed = tuple(
        ItemFailed(job_id=request.job_id, index=item.index, attempt=item.attempt, run=item.run,
                   reason=reason, message=f"{item.path}: {what}", worker=worker_index)
        for item in entries
    )
    if isinstance(request, ProcessBatch):
        return BatchDone(job_id=request.job_id, outcomes=failed)
    return failed[0]


def _tell_unless_dead(ref: pykka.ActorRef[Any], message: Any) -> None:
    # A stopped Processor has nobody to act on it; its pool reports its item.
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)
