"""A hypothesis state machine drives the ResourceManager protocol from several senders."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pixelmill.actors.resource_manager import ResourceManager
from pixelmill.messages import (
    Budget,
    GetBudget,
    LeaseGranted,
    ReleaseLease,
    RequestLease,
    SetBudget,
)
from pixelmill.testing import Probe, make_context


class _Model:
    """The protocol's rules, written plainly: strict priority-then-age, capped requests."""

    def __init__(self, memory_mb: int, cpu_slots: int) -> None:
        self.memory_mb, self.cpu_slots = memory_mb, cpu_slots
        self.held: dict[str, tuple[int, int]] = {}
        self.queue: list[tuple[int, int, str, int]] = []  # priority, age, id, memory
        self.age = 0

    def request(self, lease_id: str, memory_mb: int, priority: int) -> None:
        self.queue.append((priority, self.age, lease_id, memory_mb))
        self.age += 1

    def release(self, lease_id: str) -> None:
        self.held.pop(lease_id, None)
        self.queue = [q for q in self.queue if q[2] != lease_id]

    def grant(self) -> list[str]:
        granted = []
        for entry in sorted(self.queue):
            memory = min(entry[3], self.memory_mb)
            used_mb = sum(m for m, _ in self.held.values())
            if used_mb + memory > self.memory_mb or len(self.held) + 1 > self.cpu_slots:
                break
            self.queue.remove(entry)
            self.held[entry[2]] = (memory, 1)
            granted.append(entry[2])
        return granted


class ResourceManagerProtocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.context = make_context()
        self.senders = [Probe(), Probe()]
        self.manager = ResourceManager.start(self.context, memory_mb=100, cpu_slots=3,
                                             aging_s=10**9)
        self.model = _Model(100, 3)
        self.owner: dict[str, int] = {}
        self.next_id = 0

    def _settle(self) -> Budget:
        budget = self.manager.ask(GetBudget(), timeout=5)
        granted = self.model.grant()
        received: list[tuple[str, int]] = []
        for number, sender in enumerate(self.senders):
            received += [(m.lease_id, number) for m in sender.drain()
                         if isinstance(m, LeaseGranted)]
        assert sorted(received) == sorted((g, self.owner[g]) for g in granted)
        # Order within one sender must follow the model's priority-then-age order.
        for number in range(len(self.senders)):
            mine = [lease for lease, sender in received if sender == number]
            assert mine == [g for g in granted if self.owner[g] == number]
        assert isinstance(budget, Budget)
        return budget

    @rule(sender=st.integers(0, 1), memory_mb=st.integers(1, 150), priority=st.integers(0, 3))
    def acquire(self, sender: int, memory_mb: int, priority: int) -> None:
        lease_id = f"lease-{self.next_id}"
        self.next_id += 1
        self.owner[lease_id] = sender
        self.model.request(lease_id, memory_mb, priority)
        self.manager.tell(RequestLease(lease_id=lease_id, memory_mb=memory_mb,
                                       priority=priority, reply_to=self.senders[sender].ref))
        self._settle()

    @rule(data=st.data())
    def release_or_cancel(self, data: Any) -> None:
        known = sorted(set(self.model.held) | {q[2] for q in self.model.queue})
        if not known:
            return
        lease_id = data.draw(st.sampled_from(known))
        self.model.release(lease_id)
        self.manager.tell(ReleaseLease(lease_id=lease_id))
        self._settle()

    @rule(memory_mb=st.integers(20, 200), cpu_slots=st.integers(1, 4))
    def change_capacity(self, memory_mb: int, cpu_slots: int) -> None:
        self.model.memory_mb, self.model.cpu_slots = memory_mb, cpu_slots
        self.manager.tell(SetBudget(memory_mb=memory_mb, cpu_slots=cpu_slots))
        self._settle()

    @invariant()
    def never_over_allocated_when_settled(self) -> None:
        budget = self._settle()
        assert budget.leases == len(self.model.held)
        assert budget.queued == len(self.model.queue)
        # Leases granted before a shrink may exceed the new size; nothing more is granted.
        if budget.memory_mb_free < 0 or budget.cpu_slots_free < 0:
            assert not self.model.grant()

    def teardown(self) -> None:
        for lease_id in list(self.model.held) + [q[2] for q in self.model.queue]:
            self.manager.tell(ReleaseLease(lease_id=lease_id))
        budget = self.manager.ask(GetBudget(), timeout=5)
        try:
            assert (budget.leases, budget.queued) == (0, 0), "a lease leaked"
            assert budget.memory_mb_free == budget.memory_mb
            assert budget.cpu_slots_free == budget.cpu_slots
        finally:
            self.manager.stop()
            for sender in self.senders:
                sender.stop()
            self.context.timer.close()


ResourceManagerProtocol.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None
)
test_resource_manager_protocol = ResourceManagerProtocol.TestCase
