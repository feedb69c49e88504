"""The ResourceManager through its messages: grants, queueing, priority, release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pixelmill.actors.resource_manager import ResourceManager
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

if TYPE_CHECKING:
    import pykka

    from pixelmill.actors.base import ActorContext
    from pixelmill.testing import Probe


def _request(probe: Probe, lease_id: str, memory_mb: int, priority: int = 2, slots: int = 1):
    return RequestLease(
        lease_id=lease_id, memory_mb=memory_mb, cpu_slots=slots, priority=priority,
        reply_to=probe.ref,
    )


def _budget(manager: pykka.ActorRef[Any]) -> Budget:
    budget = manager.ask(GetBudget(), timeout=5)
    assert isinstance(budget, Budget)
    return budget


def test_a_request_that_fits_is_granted_at_once(context: ActorContext, probe: Probe) -> None:
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=2)
    manager.tell(_request(probe, "a", 60))
    granted = probe.expect(LeaseGranted)
    assert (granted.lease_id, granted.memory_mb, granted.cpu_slots) == ("a", 60, 1)
    assert _budget(manager).memory_mb_free == 40


def test_a_request_that_does_not_fit_waits_for_a_release(
    context: ActorContext, probe: Probe
) -> None:
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=4)
    manager.tell(_request(probe, "a", 70))
    manager.tell(_request(probe, "b", 50))
    assert probe.expect(LeaseGranted).lease_id == "a"
    probe.expect_nothing()
    assert _budget(manager).queued == 1
    manager.tell(ReleaseLease(lease_id="a"))
    assert probe.expect(LeaseGranted).lease_id == "b"


def test_cpu_slots_limit_grants_like_memory(context: ActorContext, probe: Probe) -> None:
    manager = ResourceManager.start(context, memory_mb=1000, cpu_slots=1)
    manager.tell(_request(probe, "a", 1))
    manager.tell(_request(probe, "b", 1))
    assert probe.expect(LeaseGranted).lease_id == "a"
    probe.expect_nothing()
    manager.tell(ReleaseLease(lease_id="a"))
    assert probe.expect(LeaseGranted).lease_id == "b"


def test_queued_requests_are_granted_by_priority_then_age(
    context: ActorContext, probe: Probe
) -> None:
    manager = ResourceManager.start(context, memory_mb=10, cpu_slots=1)
    manager.tell(_request(probe, "running", 10))
    assert probe.expect(LeaseGranted).lease_id == "running"
    for lease_id, priority in [("low-1", 3), ("normal-1", 2), ("urgent", 0), ("normal-2", 2)]:
        manager.tell(_request(probe, lease_id, 10, priority=priority))
    order = []
    previous = "running"
    for _ in range(4):
        manager.tell(ReleaseLease(lease_id=previous))
        previous = probe.expect(LeaseGranted).lease_id
        order.append(previous)
    assert order == ["urgent", "normal-1", "normal-2", "low-1"]


def test_a_request_larger_than_the_budget_runs_alone(context: ActorContext, probe: Probe) -> None:
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=4)
    manager.tell(_request(probe, "small", 10))
    manager.tell(_request(probe, "huge", 5000))
    assert probe.expect(LeaseGranted).lease_id == "small"
    probe.expect_nothing()
    manager.tell(ReleaseLease(lease_id="small"))
    huge = probe.expect(LeaseGranted)
    assert (huge.lease_id, huge.memory_mb) == ("huge", 100)
    assert _budget(manager).memory_mb_free == 0


def test_a_withdrawn_request_is_never_granted(context: ActorContext, probe: Probe) -> None:
    manager = ResourceManager.start(context, memory_mb=10, cpu_slots=1)
    manager.tell(_request(probe, "a", 10))
    manager.tell(_request(probe, "b", 10))
    manager.tell(_request(probe, "c", 10))
    assert probe.expect(LeaseGranted).lease_id == "a"
    manager.tell(ReleaseLease(lease_id="b"))
    manager.tell(ReleaseLease(lease_id="a"))
    assert probe.expect(LeaseGranted).lease_id == "c"
    budget = _budget(manager)
    assert (budget.leases, budget.queued) == (1, 0)


def test_a_non_positive_budget_is_refused(context: ActorContext) -> None:
    with pytest.raises(ValueError, match="budget must be positive"):
        ResourceManager(context, memory_mb=0, cpu_slots=1)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_long_wait_raises_a_request_above_newer_urgent_ones(
    context: ActorContext, probe: Probe
) -> None:
    clock = _Clock()
    manager = ResourceManager.start(context, memory_mb=10, cpu_slots=1, aging_s=10,
                                    clock=clock)
    manager.tell(_request(probe, "running", 1))
    manager.tell(_request(probe, "low", 1, priority=3))
    _budget(manager)  # "low" is queued at time 0
    clock.now = 35.0  # "low" has waited 3.5 agings: it now ranks as URGENT
    manager.tell(_request(probe, "urgent", 1, priority=0))
    manager.tell(ReleaseLease(lease_id="running"))
    _budget(manager)
    granted = [m.lease_id for m in probe.drain() if isinstance(m, LeaseGranted)]
    assert granted == ["running", "low"]


def test_memory_pressure_shrinks_the_budget_until_it_clears(
    context: ActorContext, probe: Probe
) -> None:
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=4)
    manager.tell(_request(probe, "a", 40))
    manager.tell(ThresholdCrossed(name="memory", value=95, level=90, time=0))
    manager.tell(_request(probe, "b", 40))
    budget = _budget(manager)
    assert (budget.memory_mb, budget.queued) == (50, 1)
    manager.tell(ThresholdCleared(name="memory", value=70, level=80, time=1))
    assert _budget(manager).memory_mb == 100
    granted = [m.lease_id for m in probe.drain() if isinstance(m, LeaseGranted)]
    assert granted == ["a", "b"]


def test_set_budget_changes_the_capacity_and_grants_what_now_fits(
    context: ActorContext, probe: Probe
) -> None:
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=1)
    manager.tell(_request(probe, "a", 10))
    manager.tell(_request(probe, "b", 10))
    manager.tell(SetBudget(cpu_slots=2))
    budget = _budget(manager)
    assert (budget.cpu_slots, budget.cpu_slots_free, budget.leases) == (2, 0, 2)
