"""The ResourceManager: the memory and CPU-slot budget, leased through its mailbox."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.messages import (
    Budget,
    GetBudget,
    LeaseGranted,
    ReleaseLease,
    RequestLease,
    SetBudget,
    ThresholdCleared,
    ThresholdCrossed,
)

__all__ = ["ResourceManager"]


@dataclass(frozen=True, slots=True)
class _Held:
    memory_mb: int
    cpu_slots: int
    owner: Any
    """Who asked for it: the ref its grant went to."""


@dataclass(frozen=True, slots=True)
class _Queued:
    request: RequestLease
    age: int
    since: float


class ResourceManager(Actor):
    """Grants leases of memory (MB) and CPU slots, at once or from a queue.

    Every allocation passes through this actor's inbox, one message at a
    time, which is what makes it safe without a lock. Queued requests are
    granted strictly in order of priority, then age, and a request's
    priority rises one level for every `aging_s` it has waited, so none
    waits forever behind a stream of more urgent ones. A large request at
    the head is not overtaken by smaller ones behind it; a request larger
    than the whole budget is granted when nothing else is held, so it runs
    alone rather than never.

    Under memory pressure (the Monitor's `memory` threshold) the memory
    budget shrinks to `pressure_fraction` of its size; held leases are never
    revoked, but nothing more is granted until they fit the smaller budget.
    The budget is restored when the pressure clears.

    When the JobManager is replaced, the leases of the one that died (held or
    queued) are dropped: the new one asks again for what its jobs still need.
    When the Monitor is replaced, the budget is restored (the new Monitor
    reports the pressure again if it persists).
    """

    actor_role = Role.RESOURCE_MANAGER

    def __init__(
        self,
        context: ActorContext,
        *,
        memory_mb: int,
        cpu_slots: int,
        aging_s: float = 30.0,
        pressure_fraction: float = 0.5,
        clock: Any = time.monotonic,
    ) -> None:
        super().__init__(context)
        if memory_mb <= 0 or cpu_slots <= 0:
            msg = f"budget must be positive, got memory_mb={memory_mb} cpu_slots={cpu_slots}"
            raise ValueError(msg)
        self._base_memory_mb = self._memory_mb = memory_mb
        self._cpu_slots = cpu_slots
        self._aging_s = aging_s
        self._pressure_fraction = pressure_fraction
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._queue: dict[str, _Queued] = {}
        self._age = itertools.count()

    def handle(self, message: Any) -> Any:
        match message:
            case RequestLease():
                self._enqueue(message)
            case ReleaseLease(lease_id=lease_id):
                self._held.pop(lease_id, None)
                self._queue.pop(lease_id, None)
            case SetBudget(memory_mb=memory_mb, cpu_slots=cpu_slots):
                self._base_memory_mb = self._memory_mb = memory_mb or self._base_memory_mb
                self._cpu_slots = cpu_slots or self._cpu_slots
            case ThresholdCrossed(name="memory"):
                self._memory_mb = max(1, int(self._base_memory_mb * self._pressure_fraction))
                self.actor_log.warning("budget.shrunk", memory_mb=self._memory_mb)
            case ThresholdCleared(name="memory"):
                self._memory_mb = self._base_memory_mb
                self.actor_log.info("budget.restored", memory_mb=self._memory_mb)
            case GetBudget(reply_to=reply_to):
                return self.reply(reply_to, self._budget())
            case _:
                return super().handle(message)
        self._grant_queued()
        return None

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        if role == Role.JOB_MANAGER:
            dead = [lease for lease, h in self._held.items() if not _alive(h.owner)]
            dead += [lease for lease, q in self._queue.items() if not _alive(q.request.reply_to)]
            for lease_id in dead:
                self._held.pop(lease_id, None)
                self._queue.pop(lease_id, None)
            if dead:
                self.actor_log.warning("lease.orphans_dropped", leases=len(dead))
            self._grant_queued()
        elif role == Role.MONITOR and self._memory_mb != self._base_memory_mb:
            self._memory_mb = self._base_memory_mb
            self.actor_log.info("budget.restored", memory_mb=self._memory_mb)
            self._grant_queued()
        return held

    def _enqueue(self, request: RequestLease) -> None:
        if request.lease_id in self._held or request.lease_id in self._queue:
            self.actor_log.warning("lease.duplicate", lease_id=request.lease_id)
            return
        self._queue[request.lease_id] = _Queued(request, next(self._age), self._clock())

    def _rank(self, queued: _Queued, now: float) -> tuple[float, int]:
        raised = int((now - queued.since) / self._aging_s) if self._aging_s > 0 else 0
        return (queued.request.priority - raised, queued.age)

    def _grant_queued(self) -> None:
        # The queue is short (a few requests per job), so a sort per pass
        # costs less than keeping a heap whose keys change with age.
        now = self._clock()
        for queued in sorted(self._queue.values(), key=lambda q: self._rank(q, now)):
            request = queued.request
            held = self._fitted(request)
            if not self._fits(held):
                return
            del self._queue[request.lease_id]
            self._held[request.lease_id] = held
            granted = LeaseGranted(
                lease_id=request.lease_id, memory_mb=held.memory_mb, cpu_slots=held.cpu_slots
            )
            if not tell_if_alive(request.reply_to, granted):
                del self._held[request.lease_id]  # nobody left to release it

    def _fitted(self, request: RequestLease) -> _Held:
        # A request beyond the whole budget is capped to it: it then fits
        # exactly when nothing else is held, and runs alone.
        return _Held(
            memory_mb=min(max(0, request.memory_mb), self._memory_mb),
            cpu_slots=min(max(0, request.cpu_slots), self._cpu_slots),
            owner=request.reply_to,
        )

    def _used(self) -> tuple[int, int]:
        return (
            sum(h.memory_mb for h in self._held.values()),
            sum(h.cpu_slots for h in self._held.values()),
        )

    def _fits(self, want: _Held) -> bool:
        used_mb, used_slots = self._used()
        return (
            used_mb + want.memory_mb <= self._memory_mb
            and used_slots + want.cpu_slots <= self._cpu_slots
        )

    def _budget(self) -> Budget:
        used_mb, used_slots = self._used()
        return Budget(
            memory_mb=self._memory_mb,
            memory_mb_free=self._memory_mb - used_mb,
            cpu_slots=self._cpu_slots,
            cpu_slots_free=self._cpu_slots - used_slots,
            leases=len(self._held),
            queued=len(self._queue),
        )


def _alive(ref: Any) -> bool:
    return isinstance(ref, pykka.ActorRef) and ref.is_alive()
