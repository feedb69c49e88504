"""The supervision protocol: recovery decisions and actor restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pykka import ActorRef

__all__ = [
    "AbortJob",
    "ActorRestarted",
    "ChildActorExited",
    "DeadLetter",
    "DecideRecovery",
    "Degrade",
    "Fail",
    "GetActor",
    "InjectCrash",
    "Retry",
    "RuntimeBroken",
    "Skip",
    "SupervisorExited",
    "Watch",
]


@message
class DecideRecovery:
    """Ask the Supervisor what to do about a failed item; answered with a decision."""

    job_id: str
    index: int
    reason: str
    message: str
    attempt: int
    """The attempt that failed, from 1."""
    degradable: bool = True
    """A smaller decode would lower the item's peak memory (a JPEG's DCT scaling):
    without, a memory failure is not degraded but ends at once."""
    reply_to: ActorRef[Any]


@message
class Retry:
    """Run the item again after a delay (backoff with jitter)."""

    job_id: str
    index: int
    attempt: int
    """The failed attempt this decides on, as `DecideRecovery` gave it."""
    after_s: float


@message
class Degrade:
    """Run the item again at once, decoded at 1/`reduce` scale to need less memory."""

    job_id: str
    index: int
    attempt: int
    reduce: int
    """1, 2, 4 or 8: the linear factor the decode shrinks by."""


@message
class Skip:
    """Give up on the item as a bad input: it ends `skipped`."""

    job_id: str
    index: int
    attempt: int
    reason: str
    message: str


@message
class Fail:
    """Give up on the item: it ends `failed` (retries exhausted, or a bug)."""

    job_id: str
    index: int
    attempt: int
    reason: str
    message: str


@message
class AbortJob:
    """Stop the whole job: the error will fail every item alike."""

    job_id: str
    index: int
    attempt: int
    reason: str
    message: str


@message
class ChildActorExited:
    """An actor died of an exception (sent by the dying actor itself)."""

    role: str
    actor_urn: str
    reason: str
    message: str


@message
class SupervisorExited:
    """The Supervisor died of an exception: what it knew, for the one that replaces it
    (sent by the dying Supervisor to the Runtime's guardian)."""

    peers: dict[str, ActorRef[Any]]
    """The refs of the actors it supervised, by role."""
    restarts: tuple[float, ...]
    """When it restarted actors within its restart window (monotonic seconds)."""
    message: str


@message
class InjectCrash:
    """Raise `InjectedCrashError` on receipt: an actor dies here on purpose (drills, tests)."""


@message
class Watch:
    """Tell `ref` of every `ActorRestarted` and of `RuntimeBroken`."""

    ref: ActorRef[Any]


@message
class ActorRestarted:
    """A fresh actor now plays `role`; replace the old ref."""

    role: str
    ref: ActorRef[Any]


@message
class RuntimeBroken:
    """An actor died more often than the restart limit allows; no more work."""

    role: str
    reason: str
    message: str


@message
class GetActor:
    """Ask the Supervisor for the current ref of a role."""

    role: str
    reply_to: ActorRef[Any] | None = None


@message
class DeadLetter:
    """The answer to a request the receiving actor does not understand."""

    actor: str
    message_type: str
