"""The Processor: one worker (a `WorkerBackend`), its held work and its time limits."""

from __future__ import annotations

import itertools
import signal
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.errors import (
    BrokenWorkerError,
    MemoryLimitError,
    PixelmillError,
    WorkerTimeoutError,
)
from pixelmill.imaging.safe_open import ProbedFile
from pixelmill.messages import (
    AbandonJob,
    BatchDone,
    BatchItem,
    HeaderRead,
    HeadersRead,
    ItemDone,
    ItemFailed,
    ProbeHeaders,
    ProbeItem,
    Process,
    ProcessBatch,
    ProcessorIdle,
)
from pixelmill.workers._memory_watch import MemoryWatch
from pixelmill.workers.backend import WorkerBackend, start_worker
from pixelmill.workers.process import (
    Outcome,
    ProbeTask,
    ProbeTaskItem,
    Task,
    TaskItem,
    WorkerFailure,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pixelmill.workers.settings import WorkerSettings

__all__ = ["DEPTH", "Answer", "Processor", "Work", "failed_all", "probe_answers"]

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


@dataclass(frozen=True, slots=True)
class _Sample:
    """Time to sample the worker's memory (while the work with this token runs)."""

    token: int


Work = Process | ProcessBatch | ProbeHeaders
Answer = ItemDone | ItemFailed | BatchDone | HeadersRead

_SAMPLE_EVERY_S = 0.1
"""How often a running worker's RSS is sampled, to tell a memory kill from a crash."""


@dataclass(frozen=True, slots=True)
class _Held:
    """Work given to the worker: the first one held runs, the next waits its turn."""

    token: int
    work: Work


class Processor(Actor):
    """Runs items (or batches of small items, or header probes) one at a time in its own
    worker process, and replaces the process if it dies.

    It holds up to `DEPTH` pieces of work: the worker runs the first and
    starts the next as soon as it is done. The actor never blocks on the
    worker: the callback of each submitted task's future tells the result
    back to the actor, which stays responsive meanwhile. It knows its worker
    only as a `WorkerBackend`, local or on Ray alike. An item past its time limit
    (counted from when it started) has its worker killed (`worker.timeout`);
    a worker that dies mid-item (`worker.crashed`) is replaced, and the work
    queued behind that item, which never started, is given to the new one.

    A batch (of items or probes) gets one item's time limit, not one per item:
    its items are small (a megapixel in all), so a batch past it holds a hang,
    which is so caught within `item_timeout_s` of its start; its items then
    run again alone, uncounted (the JobManager's part). A local worker's RSS
    is sampled while it works: one killed by SIGKILL (not this actor's) while
    near its cap, or while the kernel's OOM killer struck, fails its item
    `resource.memory`, not `worker.crashed`.
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
        self._memory: MemoryWatch | None = None

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
            case Process() | ProcessBatch() | ProbeHeaders():
                self._submit(message)
            case _Returned(token=token, outcome=outcome):
                self._answer(token, outcome)
            case _Started(generation=generation, pid=pid) if generation == self._generation:
                self._pid = pid
                if self._settings.backend == "local":  # a Ray worker's pid may be remote
                    self._memory = MemoryWatch(pid, self._settings.memory_mb)
                if self._held:
                    self._start_clock()  # the time limit counts from the worker's start
            case _Started():
                pass  # the pid of a worker already replaced
            case _Deadline(token=token):
                self._deadline(token)
            case _Sample(token=token):
                self._sample(token)
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
        self._memory = None
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
        # One item's limit, even for a batch: see the class's docstring.
        self._deadline_key = self.actor_timer.tell_later(
            self._settings.item_timeout_s, self.actor_ref, _Deadline(first.token)
        )
        if self._memory is not None:
            self._memory.start_item()
            self.actor_timer.tell_later(_SAMPLE_EVERY_S, self.actor_ref, _Sample(first.token))

    def _deadline(self, token: int) -> None:
        if self._held and self._held[0].token == token:
            self._kill_for(token, "timeout")

    def _sample(self, token: int) -> None:
        if self._memory is None or not self._held or self._held[0].token != token:
            return  # that work is over: the next one samples anew
        before = self._memory.near_cap()
        self._memory.sample()
        if self._memory.near_cap() and not before:
            self.actor_log.warning("worker.memory_high", rss_mb=round(self._memory.peak_mb),
                                   cap_mb=self._memory.cap_mb)
        self.actor_timer.tell_later(_SAMPLE_EVERY_S, self.actor_ref, _Sample(token))

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
            answer: Answer
            if isinstance(outcome, BaseException):
                what = f"{type(outcome).__name__}: {outcome}"
                answer = failed_all(request, self._index, "internal.error", what)
            elif isinstance(request, ProbeHeaders):
                answer = probe_answers(request, outcome, self._index)
            elif isinstance(request, ProcessBatch):
                answer = BatchDone(
                    job_id=request.job_id,
                    outcomes=tuple(
                        self._item_answer(request.job_id, item, result)
                        for item, result in zip(request.items, outcome, strict=True)
                    ),
                )
            else:
                (only,) = outcome
                answer = self._item_answer(request.job_id, request, only)
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
            error = self._death(head.work, kill)
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

    def _death(self, work: Work, kill: tuple[int, str] | None) -> PixelmillError:
        """What the death of the worker running `work` is, as its items' failure."""
        limit = self._settings.item_timeout_s
        if kill is not None and kill[1] == "timeout":
            if _count(work) > 1:
                return WorkerTimeoutError(
                    f"its batch of {_count(work)} ran past one item's {limit:g} s limit "
                    "(counted from the batch's start) and was stopped")
            return WorkerTimeoutError(f"ran past its {limit:g} s limit and was stopped")
        memory = self._memory
        signal_number = self._worker.exit_signal() if self._worker is not None else None
        # A batch's death is no single item's: each runs again alone, and is told apart then.
        if (kill is None and memory is not None and signal_number == signal.SIGKILL
                and _count(work) == 1):
            memory.sample()
            if memory.near_cap() or memory.oom_killed():
                what = ("the kernel's OOM killer struck" if memory.oom_killed()
                        else f"near its {memory.cap_mb} MiB cap")
                return MemoryLimitError(
                    f"its worker was killed (SIGKILL) at {memory.peak_mb:.0f} MiB beyond idle, "
                    f"{what}: out of memory"
                )
        return BrokenWorkerError("its worker process died while running it")

    def _item_answer(
        self, job_id: str, item: Process | BatchItem, outcome: Outcome
    ) -> ItemDone | ItemFailed:
        key = _ItemKey(job_id=job_id, index=item.index, attempt=item.attempt, run=item.run,
                       worker=self._index)
        if isinstance(outcome, WorkerFailure):
            message = outcome.message
            cap = self._settings.memory_mb
            if outcome.reason == MemoryLimitError.reason and cap is not None and self._memory:
                message += f" (its worker's cap: {cap} MiB beyond idle)"
            return ItemFailed(**key, reason=outcome.reason, message=message)
        if isinstance(outcome, ProbedFile):  # a worker that answers a Task so is broken
            return ItemFailed(**key, reason="internal.error", message="a probe answered work")
        return ItemDone(**key, result=outcome)

    def _finish(self, work: Work, answer: Answer) -> None:
        self.reply(work.reply_to, answer)
        self._pool.tell(ProcessorIdle(worker=self._index))


def _count(work: Work) -> int:
    return 1 if isinstance(work, Process) else len(work.items)


def _task(work: Work) -> Task | ProbeTask:
    """What of `work` crosses into the worker: paths and the pipeline, no actor ref."""
    if isinstance(work, ProbeHeaders):
        return ProbeTask(items=tuple(
            ProbeTaskItem(path=item.path, attempt=item.attempt, content_hash=item.content_hash)
            for item in work.items
        ))
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




def probe_answers(request: ProbeHeaders, outcomes: list[Outcome], worker: int) -> HeadersRead:
    """The answer to `request`, from what the worker gave back for each of its files."""
    return HeadersRead(job_id=request.job_id, outcomes=tuple(
        _probe_answer(item, outcome, worker)
        for item, outcome in zip(request.items, outcomes, strict=True)
    ))


def _probe_answer(item: ProbeItem, outcome: Outcome, worker_index: int) -> HeaderRead:
    if isinstance(outcome, ProbedFile):
        return HeaderRead(index=item.index, path=item.path, probe=item.probe, probed=outcome,
                          worker=worker_index)
    if isinstance(outcome, WorkerFailure):
        reason, message = outcome.reason, outcome.message
    else:
        reason, message = "internal.error", f"{item.path}: work answered a probe"
    return HeaderRead(index=item.index, path=item.path, probe=item.probe, reason=reason,
                      message=message, worker=worker_index)


def failed_all(request: Work, worker_index: int, reason: str, what: str) -> Answer:
    """The answer to `request` when none of its items has an outcome of its own."""
    if isinstance(request, ProbeHeaders):
        return HeadersRead(job_id=request.job_id, outcomes=tuple(
            HeaderRead(index=item.index, path=item.path, probe=item.probe, reason=reason,
                       message=f"{item.path}: {what}", worker=worker_index)
            for item in request.items
        ))
    entries = request.items if isinstance(request, ProcessBatch) else (request,)
    failed = tuple(
        ItemFailed(job_id=request.job_id, index=item.index, attempt=item.attempt, run=item.run,
                   reason=reason, message=f"{item.path}: {what}", worker=worker_index)
        for item in entries
    )
    if isinstance(request, ProcessBatch):
        return BatchDone(job_id=request.job_id, outcomes=failed)
    return failed[0]



