"""The ResourceManager through its messages: grants, queueing, priority, release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelmill.actors.resource_manager import ResourceManager
from pixelmill.messages import Budget, GetBudget, LeaseGranted, ReleaseLease, RequestLease

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


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["acquire", "release"]), st.integers(0, 7),
                  st.integers(1, 60), st.integers(0, 3)),
        max_size=30,
    )
)
def test_random_acquire_and_release_never_over_allocate_or_leak(
    operations: list[tuple[str, int, int, int]],
) -> None:
    from pixelmill.testing import Probe, make_context

    context = make_context()
    probe = Probe()
    manager = ResourceManager.start(context, memory_mb=100, cpu_slots=3)
    try:
        asked: set[str] = set()
        for action, key, memory_mb, priority in operations:
            lease_id = f"lease-{key}"
            if action == "acquire" and lease_id not in asked:
                asked.add(lease_id)
                manager.tell(_request(probe, lease_id, memory_mb, priority=priority))
            elif action == "release":
                asked.discard(lease_id)
                manager.tell(ReleaseLease(lease_id=lease_id))
            budget = _budget(manager)
            assert 0 <= budget.memory_mb_free <= budget.memory_mb
            assert 0 <= budget.cpu_slots_free <= budget.cpu_slots
        for lease_id in asked:
            manager.tell(ReleaseLease(lease_id=lease_id))
        budget = _budget(manager)
        assert (budget.memory_mb_free, budget.cpu_slots_free) == (100, 3)
        assert (budget.leases, budget.queued) == (0, 0)
    finally:
        manager.stop()
        probe.stop()
        context.timer.close()


def test_a_non_positive_budget_is_refused(context: ActorContext) -> None:
    with pytest.raises(ValueError, match="budget must be positive"):
        ResourceManager(context, memory_mb=0, cpu_slots=1)
