"""The Guardian: what supervises the Supervisor."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.messages import (
    ActorRestarted,
    ChildActorExited,
    GetActor,
    RuntimeBroken,
    SupervisorExited,
    Watch,
)

__all__ = ["Guardian", "SupervisorFactory"]

SupervisorFactory = Callable[[ActorContext, SupervisorExited | None], pykka.ActorRef[Any]]
"""Starts a Supervisor: afresh (None), or adopting what a dead one handed over."""


class Guardian(Actor):
    """Starts the Supervisor, and starts it again when it dies.

    It is the one stable address of a runtime's supervision: children report
    their deaths here (`ChildActorExited`) and the Guardian hands them to the
    current Supervisor; Supervisors tell it of restarts and of a break, and it
    tells the watchers (`Watch`). So nothing is lost while a Supervisor is
    being replaced.

    The Supervisor is the one actor no Supervisor watches. When it dies it
    hands the Guardian what it knew (`SupervisorExited`); the Guardian starts
    a new Supervisor that adopts its children, and tells every watcher the new
    ref (`ActorRestarted` for `supervisor`). More than `max_restarts` deaths
    within `restart_window_s` break the runtime cleanly instead: watchers and
    the children hear `RuntimeBroken` naming the Supervisor.

    It handles a message per Supervisor death, and no drill crashes it (its
    role is not one a `FaultPlan` names); the Runtime stops it last.
    """

    actor_role = Role.GUARDIAN

    def __init__(
        self,
        context: ActorContext,
        *,
        start_supervisor: SupervisorFactory,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
    ) -> None:
        super().__init__(context)
        self._context = context
        self._start_supervisor = start_supervisor
        self._max_restarts = max_restarts
        self._restart_window_s = restart_window_s
        self._restarts: deque[float] = deque()
        self._watchers: list[pykka.ActorRef[Any]] = []
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._broken: RuntimeBroken | None = None

    def on_start(self) -> None:
        """Starts the first Supervisor (and so every actor) in the Guardian's thread."""
        self._supervisor = self._start(None)

    def on_stop(self) -> None:
        """Stops the Supervisor, which stops its children first; then any child still
        alive (the last Supervisor may have died, in a runtime that broke)."""
        refs = [(Role.SUPERVISOR, self._supervisor), *reversed(self.actor_peers.items())]
        for role, ref in refs:
            if role == Role.GUARDIAN or ref is None or not ref.is_alive():
                continue
            try:
                ref.stop(block=True, timeout=120)
            except pykka.Timeout:
                self.actor_log.error("actor.stop_timeout", role=role)

    def handle(self, message: Any) -> Any:
        match message:
            case GetActor(reply_to=reply_to):
                return self.reply(reply_to, self._supervisor)
            case Watch(ref=ref):
                self._watchers.append(ref)
                if self._broken is not None:
                    self.reply(ref, self._broken)
                return None
            case SupervisorExited(peers=peers):
                self.actor_peers.update(peers)  # to stop them, whatever happens next
                self._replace(message)
                return None
            case ChildActorExited():
                # A child's death, for the current Supervisor. If that one is
                # dying too, the next adopts the children and finds the dead.
                if self._supervisor is not None and self._broken is None:
                    tell_if_alive(self._supervisor, message)
                return None
            case RuntimeBroken():  # from the Supervisor: pass it on
                if self._broken is None:
                    self._broken = message
                    for ref in self._watchers:
                        self.reply(ref, message)
                return None
            case _:
                return super().handle(message)

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        # The Supervisor tells the Guardian of each child it replaced; the
        # Guardian, which outlives Supervisors, tells the watchers.
        restarted = ActorRestarted(role=role, ref=self.actor_peers[role])
        for ref in self._watchers:
            self.reply(ref, restarted)
        return held

    def _replace(self, exited: SupervisorExited) -> None:
        if self._broken is not None:
            return
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self._restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self._max_restarts:
            self._broken = RuntimeBroken(
                role=Role.SUPERVISOR,
                reason="runtime.broken",
                message=(
                    f"{Role.SUPERVISOR} died {len(self._restarts) + 1} times within "
                    f"{self._restart_window_s:g} s: {exited.message}"
                ),
            )
            self.actor_log.critical("runtime.broken", role=Role.SUPERVISOR, error=exited.message)
            for ref in [*exited.peers.values(), *self._watchers]:
                self.reply(ref, self._broken)
            return
        self._restarts.append(now)
        self._supervisor = self._start(exited)
        self.actor_log.warning("actor.restarted", role=Role.SUPERVISOR, error=exited.message)
        for ref in self._watchers:
            self.reply(ref, ActorRestarted(role=Role.SUPERVISOR, ref=self._supervisor))

    def _start(self, adopt: SupervisorExited | None) -> pykka.ActorRef[Any]:
        context = ActorContext(
            log=self._context.log, timer=self._context.timer,
            peers={Role.GUARDIAN: self.actor_ref}, faults=self._context.faults,
        )
        return self._start_supervisor(context, adopt)
