"""The Processor: one worker (a `WorkerBackend`), its held work and its time limits."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.errors import BrokenWorkerError, PixelmillError, WorkerTimeoutError
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
from pixelmill.workers.backend import WorkerBackend, start_worker
from pixelmill.workers.process import Outcome, Task, TaskItem, WorkerFailure

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pixelmill.workers.settings import WorkerSettings

__all__ = ["DEPTH", "Processor", "Work", "failed_all"]

DEPTH = 2
"""Pieces of work a Processor holds at once: the one its worker runs, and the
next, already in the worker's queue, so that no item waits for a round trip
through the actors between two others."""


@dataclass(frozen=True, slots=True)
class _Returned:
    """A worker's answer for a piece of work, brought back into the Processor's thread."""

    token: int
    outcome: list[Outcome] | BaseException


@dataclass(frozen=True, slots=True)
class _Started:
    """The worker of a generation is up, with this pid."""

    generation: int
    pid: int


@dataclass(frozen=True, slots=True)
class _Died:
    """The worker of a generation died (seen while idle by the backends that can)."""

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
    worker: the callback of each submitted task's future tells the result
    back to the actor, which stays responsive meanwhile. It knows its worker
    only as a `WorkerBackend`, local or on Ray alike. An item past its time limit
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
        self._worker: WorkerBackend | None = None
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
        """Starts the worker ahead of the first item (in the actor's thread)."""
        self._new_worker()

    def on_stop(self) -> None:
        """Ends the worker: at once if an item still runs, else after it is idle.

        The Runtime drains (or cancels and waits for) running items before it
        stops its actors, so an item still running here was given up on.
        """
        self._end_worker(wait=not self._held)

    def on_failure(self, *exc_info: Any) -> None:
        self._end_worker(wait=False)
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
                pass  # the pid of a worker already replaced
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

    # -- the worker ---------------------------------------------------------

    def _new_worker(self) -> None:
        self._generation += 1
        self._pid = None
        self._kill = None  # a kill meant for the last worker
        self._worker = start_worker(self._settings)
        generation, actor_ref = self._generation, self.actor_ref

        def started(done: Future[int]) -> None:
            if not done.cancelled() and done.exception() is None:
                tell_if_alive(actor_ref, _Started(generation, done.result()))

        def died(done: Future[None]) -> None:
            if not done.cancelled() and isinstance(done.exception(), BrokenWorkerError):
                tell_if_alive(actor_ref, _Died(generation))

        self._worker.started.add_done_callback(started)
        self._worker.died.add_done_callback(died)

    def _died(self, generation: int) -> None:
        # Held work fails on its own (and is answered); an idle worker that
        # died is replaced before it is given work, so no item is charged.
        if generation == self._generation and not self._held and self._worker is not None:
            self._replace_worker("died while idle")

    def _end_worker(self, *, wait: bool) -> None:
        if self._worker is None:
            return
        self._worker.shutdown(wait=wait)
        self._worker = None

    def _replace_worker(self, why: str) -> None:
        self.actor_log.warning("worker.replaced", why=why)
        self._end_worker(wait=False)
        self._new_worker()

    # -- items ----------------------------------------------------------------

    def _submit(self, work: Work) -> None:
        token = next(self._tokens)
        task = _task(work)
        assert self._worker is not None
        try:
            future = self._worker.submit(task)
        except BrokenWorkerError:
            if self._held:
                # It died with work in it: that work's failure replays this too.
                self._held.append(_Held(token, work))
                return
            # The worker died while idle (killed from outside): replace it quietly.
            self._replace_worker("died while idle")
            future = self._worker.submit(task)
        self._held.append(_Held(token, work))
        actor_ref = self.actor_ref

        def returned(done: Future[list[Outcome]]) -> None:
            # Runs in a thread of the backend's: only hand the outcome over.
            outcome: list[Outcome] | BaseException
            try:
                outcome = done.result()
            except BaseException as exc:  # noqa: BLE001 - the actor decides, even on a cancel
                outcome = exc
            tell_if_alive(actor_ref, _Returned(token, outcome))

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
        """Kill the worker for the work `token`; its future then fails as broken."""
        self._kill = (token, why)
        if self._worker is not None:
            self._worker.kill()

    def _answer(self, token: int, outcome: list[Outcome] | BaseException) -> None:
        if not self._held or self._held[0].token != token:
            return  # work re-given to a new worker answers under a new token
        head = self._held.popleft()
        request = head.work
        self.actor_timer.cancel(self._deadline_key)
        if isinstance(outcome, BrokenWorkerError):
            self._worker_died(head)
        else:
            answer: ItemDone | ItemFailed | BatchDone
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
                (only,) = outcome
                answer = _item_answer(request.job_id, request, only, self._index)
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
            timed_out = kill is not None and kill[1] == "timeout"
            error: PixelmillError = (
                WorkerTimeoutError(
                    f"ran past its {self._settings.item_timeout_s:g} s limit and was stopped"
                )
                if timed_out
                else BrokenWorkerError("its worker process died while running it")
            )
            why = "abandoned" if kill is not None and kill[1] == "abandon" else error.reason
            self._finish(head.work, failed_all(head.work, self._index, error.reason, str(error)))
        if self._worker is None:
            return  # stopping: nothing more runs
        self._replace_worker(why)
        for work in waiting:
            if work.job_id in self._abandoned:
                gone = "its job was abandoned"
                self._finish(work, failed_all(work, self._index, "worker.crashed", gone))
            else:
                self._submit(work)

    def _finish(self, work: Work, answer: ItemDone | ItemFailed | BatchDone) -> None:
        self.reply(work.reply_to, answer)
        self._pool.tell(ProcessorIdle(worker=self._index))


def _task(work: Work) -> Task:
    """What of `work` crosses into the worker: paths and the pipeline, no actor ref."""
    if isinstance(work, ProcessBatch):
        items = tuple(TaskItem(path=item.path, target=item.target, attempt=item.attempt)
                      for item in work.items)
    else:
        items = (TaskItem(path=work.path, target=work.target, attempt=work.attempt,
                          reduce=work.reduce),)
    return Task(items=items, pipeline=work.pipeline, plugins=work.plugins)


class _ItemKey(TypedDict):
    """Which run of which attempt at which item, on which worker, an answer is about."""

    job_id: str
    index: int
    attempt: int
    run: int
    worker: int


def _item_answer(
    job_id: str, item: Process | BatchItem, outcome: Outcome, worker_index: int
) -> ItemDone | ItemFailed:
    key = _ItemKey(job_id=job_id, index=item.index, attempt=item.attempt, run=item.run,
                   worker=worker_index)
    if isinstance(outcome, WorkerFailure):
        return ItemFailed(**key, reason=outcome.reason, message=outcome.message)
    return ItemDone(**key, result=outcome)


def failed_all(
    request: Work, worker_index: int, reason: str, what: str
) -> ItemFailed | BatchDone:
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



