"""The ProcessorPool and its Processors: each Processor owns one worker process."""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pykka

from pixelmill.actors import worker
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.messages import ChildActorExited, ItemDone, ItemFailed, Process, ProcessorIdle

__all__ = ["Processor", "ProcessorPool"]


def _worker_context() -> multiprocessing.context.BaseContext:
    # Forking a process that runs actor threads can copy a held lock into the
    # child; the fork server forks from a clean, single-threaded process that
    # has already imported the pipeline, so workers still start in milliseconds.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pixelmill.actors.worker"])
    return context


class _Returned:
    """A worker's answer for an item, brought back into the Processor's thread."""

    __slots__ = ("outcome", "request")

    def __init__(self, request: Process, outcome: Any) -> None:
        self.request = request
        self.outcome = outcome


class Processor(Actor):
    """Runs one item at a time in its own worker process, and replaces it if it dies.

    The actor never blocks on the worker: the executor's completion callback
    tells the result back to the actor, which stays responsive meanwhile.
    """

    actor_role = "processor"

    def __init__(self, context: ActorContext, *, index: int, pool: pykka.ActorRef[Any]) -> None:
        super().__init__(context, supervisor_role=Role.PROCESSOR_POOL)
        self.actor_peers[Role.PROCESSOR_POOL] = pool
        self.actor_log = self.actor_log.bind(worker=index)
        self._index = index
        self._pool = pool
        self._executor: ProcessPoolExecutor | None = None

    def on_start(self) -> None:
        """Starts the worker process ahead of the first item (in the actor's thread)."""
        self._executor = self._new_executor()

    def on_stop(self) -> None:
        """Waits for the running item, then ends the worker process."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def on_failure(self, *exc_info: Any) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case Process():
                self._submit(message)
                return None
            case _Returned(request=request, outcome=outcome):
                self._answer(request, outcome)
                return None
            case _:
                return super().handle(message)

    def _new_executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=1, mp_context=_worker_context(), initializer=worker.init_worker
        )
        executor.submit(worker.warm_up)
        return executor

    def _replace_worker(self, request: Process) -> None:
        self.actor_log.warning("worker.replaced", item=str(request.path))
        assert self._executor is not None
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

    def _submit(self, request: Process) -> None:
        assert self._executor is not None
        arguments = (worker.run_item, request.path, request.pipeline, request.target)
        try:
            future = self._executor.submit(*arguments)
        except BrokenProcessPool:
            # The worker died while idle (killed from outside): replace it quietly.
            self._replace_worker(request)
            future = self._executor.submit(*arguments)
        actor_ref = self.actor_ref

        def returned(done: Future[Any]) -> None:
            # Runs in the executor's thread: only hand the outcome over.
            try:
                outcome = done.result()
            except BaseException as exc:  # noqa: BLE001 - carried to the actor, not lost
                outcome = exc
            try:
                actor_ref.tell(_Returned(request, outcome))
            except pykka.ActorDeadError:
                pass  # the pool reports the item of a dead Processor

        future.add_done_callback(returned)

    def _answer(self, request: Process, outcome: Any) -> None:
        key = {"job_id": request.job_id, "index": request.index, "attempt": request.attempt}
        answer: ItemDone | ItemFailed
        if isinstance(outcome, worker.WorkerFailure):
            answer = ItemFailed(
                **key, reason=outcome.reason, message=outcome.message, worker=self._index
            )
        elif isinstance(outcome, BrokenProcessPool):
            answer = ItemFailed(
                **key,
                reason="worker.crashed",
                message=f"{request.path}: the worker process died while decoding it",
                worker=self._index,
            )
            self._replace_worker(request)
        elif isinstance(outcome, BaseException):
            answer = ItemFailed(
                **key,
                reason="internal.error",
                message=f"{request.path}: {type(outcome).__name__}: {outcome}",
                worker=self._index,
            )
        else:
            answer = ItemDone(**key, result=outcome, worker=self._index)
        self.reply(request.reply_to, answer)
        self._pool.tell(ProcessorIdle(worker=self._index))


class ProcessorPool(Actor):
    """Hands each `Process` to an idle Processor, queueing when all are busy.

    It supervises its Processors: one that dies is replaced at once and the
    item it held is answered `ItemFailed(worker.crashed)`, so no item is lost.
    """

    actor_role = Role.PROCESSOR_POOL

    def __init__(self, context: ActorContext, *, workers: int) -> None:
        super().__init__(context)
        if workers < 1:
            msg = f"workers must be at least 1, got {workers}"
            raise ValueError(msg)
        self._context = context
        self._size = workers
        self._processors: dict[int, pykka.ActorRef[Any]] = {}
        self._busy: dict[int, Process] = {}
        self._queue: deque[Process] = deque()

    def on_start(self) -> None:
        """Starts every Processor and so every worker process (in the pool's thread)."""
        for index in range(self._size):
            self._processors[index] = self._start_processor(index)

    def on_stop(self) -> None:
        """Stops the Processors; each waits for its running item."""
        for ref in self._processors.values():
            ref.stop(block=True, timeout=60)

    def on_failure(self, *exc_info: Any) -> None:
        for ref in self._processors.values():
            ref.stop(block=False)
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case Process():
                self._queue.append(message)
                self._dispatch()
                return None
            case ProcessorIdle(worker=index):
                self._busy.pop(index, None)
                self._dispatch()
                return None
            case ChildActorExited():
                self._replace(message)
                return None
            case _:
                return super().handle(message)

    def _start_processor(self, index: int) -> pykka.ActorRef[Any]:
        return Processor.start(self._context, index=index, pool=self.actor_ref)

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
                self.reply(
                    lost.reply_to,
                    ItemFailed(
                        job_id=lost.job_id,
                        index=lost.index,
                        attempt=lost.attempt,
                        reason="worker.crashed",
                        message=f"{lost.path}: its processor died: {exited.message}",
                        worker=index,
                    ),
                )
            self._dispatch()
            return
