"""What every pixelmill actor shares: peers by role, replies, dead letters, failure reports."""

from __future__ import annotations

import functools
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.errors import InjectedCrashError, reason_of
from pixelmill.messages import ActorRestarted, ChildActorExited, DeadLetter, InjectCrash

if TYPE_CHECKING:
    from types import TracebackType

    from structlog.typing import FilteringBoundLogger

    from pixelmill.actors.timer import Timer
    from pixelmill.workers.faults import FaultPlan

__all__ = ["Actor", "ActorContext", "Role"]


class Role:
    """The stable names under which the Supervisor keeps its children."""

    GUARDIAN = "guardian"
    """Supervises the Supervisor; the stable address children report their deaths to."""
    SUPERVISOR = "supervisor"
    JOB_MANAGER = "job_manager"
    PROCESSOR_POOL = "processor_pool"
    RESOURCE_MANAGER = "resource_manager"
    MONITOR = "monitor"
    EXPORTER = "exporter"


@dataclass(frozen=True, slots=True)
class ActorContext:
    """What an actor is handed when it starts: no globals, so two Runtimes never meet."""

    log: FilteringBoundLogger
    timer: Timer
    peers: dict[str, pykka.ActorRef[Any]] = field(default_factory=dict)
    """The current ref of each role; the Supervisor is always among them."""
    faults: FaultPlan | None = None
    """A drill's plan: actors of its roles crash now and then (`actor_crash_rate`)."""


class Actor(pykka.ThreadingActor):
    """A pykka actor that speaks the pixelmill protocol.

    Subclasses implement `handle`, a `match` over message classes that falls
    through to `super().handle` for a dead letter. The handler runs in the
    actor's own thread, one message at a time, so state needs no lock.

    An exception escaping `handle` under `tell`, or escaping `on_start`, stops
    the actor (pykka's rule); `on_failure` then reports `ChildActorExited` to
    the supervisor, which starts a fresh actor and tells every watcher
    `ActorRestarted`. (pykka itself calls no `on_failure` for `on_start`: the
    subclass's `on_start` is wrapped so that it does.)

    Under a drill (`ActorContext.faults`), an actor of a role the plan names
    raises `InjectedCrashError` on a share of the messages it receives, before
    acting on them, to show that its peers and the Supervisor recover.
    """

    actor_role: ClassVar[str] = "actor"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        start = cls.__dict__.get("on_start")
        if start is None:
            return

        # A def, not a Callable, so that it binds as a method like the one it replaces.
        def on_start(self: Actor) -> None:
            self._start_reporting_failure(start)

        functools.update_wrapper(on_start, start)
        cls.on_start = on_start  # type: ignore[method-assign]  # on purpose, see above

    def __init__(self, context: ActorContext, *, supervisor_role: str = Role.SUPERVISOR) -> None:
        super().__init__()
        self.actor_log = context.log.bind(actor=self.actor_role)
        self.actor_timer = context.timer
        self.actor_peers = dict(context.peers)
        self._supervisor_role = supervisor_role
        self._undelivered: defaultdict[str, list[Any]] = defaultdict(list)
        self._start_failed = False
        faults = context.faults
        self._crash_rate = 0.0
        if faults is not None and self.actor_role in faults.actors:
            self._crash_rate = faults.actor_crash_rate
        self._crash_draws = random.Random(f"{faults.seed if faults else 0}:{self.actor_urn}")

    def on_start(self) -> None:
        """Runs in the actor's thread before its first message; override to take resources.

        An exception escaping it stops the actor and, unlike in pykka, calls
        `on_failure` first, so the supervisor hears of it.
        """

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, InjectCrash) or (
            self._crash_rate and self._crash_draws.random() < self._crash_rate
        ):
            raise InjectedCrashError(
                f"{self.actor_role} crashed on purpose while handling "
                f"{type(message).__name__} (a fault drill)"
            )
        if isinstance(message, ActorRestarted):
            self._peer_restarted(message)
            return None
        return self.handle(message)

    def handle(self, message: Any) -> Any:
        """Handle one message; the base answers anything unknown as a dead letter."""
        self.actor_log.warning(
            "dead_letter", message_type=type(message).__name__, message=repr(message)[:200]
        )
        letter = DeadLetter(actor=self.actor_role, message_type=type(message).__name__)
        reply_to = getattr(message, "reply_to", None)
        if isinstance(reply_to, pykka.ActorRef):
            tell_if_alive(reply_to, letter)
        return letter

    def send(self, role: str, message: Any) -> None:
        """Tell a peer by role; if it just died, hold the message until it is restarted.

        A message for a role the runtime does not run is dropped.
        """
        if role not in self.actor_peers:
            return  # a role this runtime does not run (a feature switched off)
        ref = self.actor_peers[role]
        if self._undelivered[role]:
            self._undelivered[role].append(message)
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._undelivered[role].append(message)

    @staticmethod
    def reply(reply_to: pykka.ActorRef[Any] | None, answer: Any) -> Any:
        """Tell `answer` to `reply_to` when there is one, and return it for an `ask`."""
        if reply_to is not None:
            tell_if_alive(reply_to, answer)
        return answer

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        """Called in the actor's thread when a peer was replaced; override to give it
        again the work it held.

        `held` are the messages sent to the peer while it was down; those
        returned are delivered to the new one, after what this hook sent.
        """
        return held

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Runs in the dying actor's thread after pykka logged the traceback."""
        self.actor_log.error(
            "actor.crashed",
            reason=reason_of(exception_value) if exception_value else "internal.error",
            error=repr(exception_value),
        )
        # The Supervisor itself may be dying or replaced: report to the
        # Guardian, which does not crash and hands it to the current one.
        role = self._supervisor_role
        if role == Role.SUPERVISOR and Role.GUARDIAN in self.actor_peers:
            role = Role.GUARDIAN
        supervisor = self.actor_peers.get(role)
        if supervisor is not None:
            tell_if_alive(
                supervisor,
                ChildActorExited(
                    role=self.actor_role,
                    actor_urn=self.actor_urn,
                    reason="actor.crashed",
                    message=repr(exception_value),
                ),
            )

    def _start_reporting_failure(self, start: Callable[[Actor], None]) -> None:
        try:
            start(self)
        except Exception:
            if not self._start_failed:  # reported once, by the innermost wrapper
                self._start_failed = True
                self.on_failure(*sys.exc_info())
            raise

    def _peer_restarted(self, message: ActorRestarted) -> None:
        self.actor_peers[message.role] = message.ref
        held = self._undelivered.pop(message.role, [])
        for pending in self.on_peer_restarted(message.role, held):
            self.send(message.role, pending)
