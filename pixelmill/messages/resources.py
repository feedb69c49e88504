"""The resources protocol: leases of memory and CPU slots from the ResourceManager."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pykka import ActorRef

__all__ = [
    "Budget",
    "GetBudget",
    "LeaseGranted",
    "ReleaseLease",
    "RequestLease",
    "SetBudget",
]


@message
class RequestLease:
    """Ask for memory and CPU slots; answered with `LeaseGranted`, now or later.

    Queued requests are granted by priority, then by age.
    """

    lease_id: str
    """Unique per requester; the key of `ReleaseLease`."""
    memory_mb: int
    cpu_slots: int = 1
    priority: int = 2
    reply_to: ActorRef[Any]


@message
class LeaseGranted:
    """The lease is held until released."""

    lease_id: str
    memory_mb: int
    cpu_slots: int


@message
class ReleaseLease:
    """Give a lease back, or withdraw a request still queued."""

    lease_id: str


@message
class SetBudget:
    """Change the budget's size; None keeps a part as it is. Held leases stay held."""

    memory_mb: int | None = None
    cpu_slots: int | None = None


@message
class GetBudget:
    """Ask for the ResourceManager's `Budget`."""

    reply_to: ActorRef[Any] | None = None


@message
class Budget:
    """A snapshot of the budget."""

    memory_mb: int
    memory_mb_free: int
    """Negative while leases granted before the budget shrank exceed it."""
    cpu_slots: int
    cpu_slots_free: int
    leases: int
    """Leases held now."""
    queued: int
    """Requests waiting for a grant."""
