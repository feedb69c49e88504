"""The Relay: the actor that carries a Runtime's events to its host-side handles."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.errors import BrokenRuntimeError, PixelmillError
from pixelmill.messages import (
    ActorRestarted,
    CancelJob,
    ItemFinished,
    JobFinished,
    JobProgress,
    RuntimeBroken,
    Sample,
    Subscribe,
    ThresholdCleared,
    ThresholdCrossed,
)
from pixelmill.runtime.statistics import EventTally

if TYPE_CHECKING:
    from collections.abc import Callable

    from pixelmill.runtime.handle import JobHandle

__all__ = ["HandleTable", "Relay"]


class HandleTable:
    """The Runtime's open handles by job id; shared by the host threads and the Relay."""

    def __init__(self) -> None:
        self._handles: dict[str, JobHandle] = {}
        self._lock = threading.Condition()
        self.broken: PixelmillError | None = None
        self.watchers: list[Callable[[Any], None]] = []
        """Host callbacks for the Monitor's samples and threshold events."""

    def add(self, handle: JobHandle) -> None:
        with self._lock:
            self._handles[handle.job_id] = handle

    def get(self, job_id: str) -> JobHandle | None:
        with self._lock:
            return self._handles.get(job_id)

    def pop(self, job_id: str) -> JobHandle | None:
        with self._lock:
            handle = self._handles.pop(job_id, None)
            self._lock.notify_all()
            return handle

    def wait_room(self, limit: int, timeout: float | None) -> bool:
        """Wait until fewer than `limit` handles are open; False on timeout."""
        with self._lock:
            return self._lock.wait_for(
                lambda: len(self._handles) < limit or self.broken is not None, timeout
            )

    def open(self) -> list[JobHandle]:
        with self._lock:
            return list(self._handles.values())

    def break_all(self, error: PixelmillError) -> None:
        with self._lock:
            self.broken = self.broken or error
            handles, self._handles = list(self._handles.values()), {}
            self._lock.notify_all()
        for handle in handles:
            handle._break(error)  # noqa: SLF001 - the relay is the handle's feeder


class Relay(Actor):
    """Delivers job events to handles (counting them); fails handles when the runtime breaks.

    It is the façade's listener and the Supervisor's watcher. When the
    JobManager is replaced, the new one takes its jobs up from the job store
    and their events go on; the relay tells it again of the cancels the host
    asked for. Without a job store the jobs are lost, and their handles fail
    at once with `BrokenRuntimeError` instead of hanging. When the Monitor is
    replaced, the relay subscribes again for the host's callbacks.
    """

    actor_role = "relay"

    def __init__(
        self,
        context: ActorContext,
        *,
        handles: HandleTable,
        jobs_survive_restarts: bool = True,
        tally: EventTally | None = None,
    ) -> None:
        super().__init__(context)
        self._handles = handles
        self._jobs_survive_restarts = jobs_survive_restarts
        self._tally = tally or EventTally()

    def on_receive(self, message: Any) -> Any:
        # Restarts are news to pass on here, not peers to re-address.
        return self.handle(message)

    def handle(self, message: Any) -> Any:
        match message:
            case ItemFinished(job_id=job_id):
                self._tally.record(message)
                self._deliver(self._handles.get(job_id), message)
            case JobProgress(job_id=job_id):
                self._deliver(self._handles.get(job_id), message)
            case JobFinished(job_id=job_id):
                self._tally.record(message)
                # Out of the table first: a host that sees the job end has room
                # for the next one at once (`submit_nowait` does not refuse it).
                self._deliver(self._handles.pop(job_id), message)
            case ActorRestarted(role=Role.JOB_MANAGER, ref=ref):
                if not self._jobs_survive_restarts:
                    self._handles.break_all(BrokenRuntimeError(
                        "the JobManager crashed and was restarted; without a job store "
                        "(journal off) its jobs are lost"
                    ))
                for handle in self._handles.open():
                    if handle.cancelled is not None:
                        ref.tell(CancelJob(job_id=handle.job_id, abandon=handle.cancelled))
            case ActorRestarted(role=Role.MONITOR, ref=ref):
                if self._handles.watchers:
                    ref.tell(Subscribe(ref=self.actor_ref))
            case ActorRestarted():
                pass
            case RuntimeBroken(message=text):
                self._handles.break_all(BrokenRuntimeError(f"the runtime broke: {text}"))
            case Sample() | ThresholdCrossed() | ThresholdCleared():
                for watcher in list(self._handles.watchers):
                    try:
                        watcher(message)
                    except Exception as exc:  # noqa: BLE001 - the host's callback failed
                        self.actor_log.error("callback.failed", error=f"{exc!r}")
            case _:
                return super().handle(message)
        return None

    def _deliver(self, handle: JobHandle | None, event: Any) -> None:
        if handle is None:
            return
        try:
            handle._deliver(event)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - the host's callback failed, not pixelmill
            self.actor_log.error(
                "callback.failed", job_id=handle.job_id, error=f"{type(exc).__name__}: {exc}"
            )
