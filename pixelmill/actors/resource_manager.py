"""The ResourceManager: the memory and CPU-slot budget, leased through its mailbox."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

import pykka

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.messages import Budget, GetBudget, LeaseGranted, ReleaseLease, RequestLease

__all__ = ["ResourceManager"]


@dataclass(frozen=True, slots=True)
class _Held:
    memory_mb: int
    cpu_slots: int


class ResourceManager(Actor):
    """Grants leases of memory (MB) and CPU slots, at once or from a queue.

    Every allocation passes through this actor's inbox, one message at a
    time, which is what makes it safe without a lock. Queued requests are
    granted strictly in order of priority, then age: a large request at the
    head is not overtaken by smaller ones behind it, so it cannot starve. A
    request larger than the whole budget is granted when nothing else is
    held, so it runs alone rather than waiting forever.
    """

    actor_role = Role.RESOURCE_MANAGER

    def __init__(self, context: ActorContext, *, memory_mb: int, cpu_slots: int) -> None:
        super().__init__(context)
        if memory_mb <= 0 or cpu_slots <= 0:
            msg = f"budget must be positive, got memory_mb={memory_mb} cpu_slots={cpu_slots}"
            raise ValueError(msg)
        self._memory_mb = memory_mb
        self._cpu_slots = cpu_slots
        self._held: dict[str, _Held] = {}
        self._queue: list[tuple[int, int, RequestLease]] = []
        self._queued_ids: set[str] = set()
        self._age = itertools.count()

    def handle(self, message: Any) -> Any:
        match message:
            case RequestLease():
                self._enqueue(message)
                self._grant_queued()
                return None
            case ReleaseLease(lease_id=lease_id):
                self._held.pop(lease_id, None)
                self._queued_ids.discard(lease_id)
                self._grant_queued()
                return None
            case GetBudget(reply_to=reply_to):
                return self.reply(reply_to, self._budget())
            case _:
                return super().handle(message)

    def _enqueue(self, request: RequestLease) -> None:
        if request.lease_id in self._held or request.lease_id in self._queued_ids:
            self.actor_log.warning("lease.duplicate", lease_id=request.lease_id)
            return
        heapq.heappush(self._queue, (request.priority, next(self._age), request))
        self._queued_ids.add(request.lease_id)

    def _grant_queued(self) -> None:
        while self._queue:
            request = self._queue[0][2]
            if request.lease_id not in self._queued_ids:  # withdrawn while queued
                heapq.heappop(self._queue)
                continue
            held = self._fitted(request)
            if not self._fits(held):
                return
            heapq.heappop(self._queue)
            self._queued_ids.discard(request.lease_id)
            self._held[request.lease_id] = held
            try:
                request.reply_to.tell(
                    LeaseGranted(
                        lease_id=request.lease_id,
                        memory_mb=held.memory_mb,
                        cpu_slots=held.cpu_slots,
                    )
                )
            except pykka.ActorDeadError:
                del self._held[request.lease_id]  # nobody left to release it

    def _fitted(self, request: RequestLease) -> _Held:
        # A request beyond the whole budget is capped to it: it then fits
        # exactly when nothing else is held, and runs alone.
        return _Held(
            memory_mb=min(max(0, request.memory_mb), self._memory_mb),
            cpu_slots=min(max(0, request.cpu_slots), self._cpu_slots),
        )

    def _fits(self, want: _Held) -> bool:
        used_mb = sum(h.memory_mb for h in self._held.values())
        used_slots = sum(h.cpu_slots for h in self._held.values())
        return (
            used_mb + want.memory_mb <= self._memory_mb
            and used_slots + want.cpu_slots <= self._cpu_slots
        )

    def _budget(self) -> Budget:
        used_mb = sum(h.memory_mb for h in self._held.values())
        used_slots = sum(h.cpu_slots for h in self._held.values())
        return Budget(
            memory_mb=self._memory_mb,
            memory_mb_free=self._memory_mb - used_mb,
            cpu_slots=self._cpu_slots,
            cpu_slots_free=self._cpu_slots - used_slots,
            leases=len(self._held),
            queued=len(self._queued_ids),
        )
