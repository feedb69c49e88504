"""The Supervisor: decides recovery for failed items and restarts crashed actors."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import pykka

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.recovery import RecoveryPolicy, Strategy, SystemicWatch
from pixelmill.messages import (
    AbortJob,
    ActorRestarted,
    ChildActorExited,
    DecideRecovery,
    Degrade,
    Fail,
    GetActor,
    Retry,
    RuntimeBroken,
    Skip,
    SupervisorExited,
    Watch,
)

__all__ = ["ActorFactory", "Supervisor"]

ActorFactory = Callable[[ActorContext], pykka.ActorRef[Any]]
"""Starts one actor of a role, given the context with the current peers."""


class _ItemKey(TypedDict):
    """Which attempt at which item a recovery decision answers."""

    job_id: str
    index: int
    attempt: int


class Supervisor(Actor):
    """Owns the recovery policy and the lives of the runtime's actors.

    It starts its children in `on_start`, in the order of `factories` (each
    child sees the refs of those before it), and stops them in reverse order
    in `on_stop`. A child that dies is replaced one-for-one under the same
    role; more than `max_restarts` deaths within `restart_window_s` break the
    runtime instead, and every watcher hears `RuntimeBroken`.

    Its own supervisor is the Runtime's `Guardian`. When the Supervisor dies,
    it hands what it knew (its children and recent restarts) to the
    Guardian, which starts a new one with `adopt`: the new Supervisor keeps
    the children that live, replaces those that died meanwhile (their deaths
    were told to nobody), and tells every child its new ref. What it loses is
    the count of each job's early failures (`SystemicWatch`), which restarts.
    """

    actor_role = Role.SUPERVISOR

    def __init__(
        self,
        context: ActorContext,
        *,
        factories: Mapping[str, ActorFactory],
        policy: RecoveryPolicy,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
        adopt: SupervisorExited | None = None,
    ) -> None:
        super().__init__(context, supervisor_role=Role.GUARDIAN)
        self._context = context
        self._factories = dict(factories)
        self._policy = policy
        self._systemic = SystemicWatch(policy)
        self._max_restarts = max_restarts
        self._restart_window_s = restart_window_s
        self._restarts: deque[float] = deque(adopt.restarts if adopt else ())
        self._watchers: list[pykka.ActorRef[Any]] = []
        self._broken: RuntimeBroken | None = None
        self._adopt = adopt

    def on_start(self) -> None:
        """Runs in the Supervisor's thread; a child failing to start fails the Runtime."""
        self.actor_peers[Role.SUPERVISOR] = self.actor_ref
        if self._adopt is None:
            for role in self._factories:
                self.actor_peers[role] = self._start(role)
            return
        adopted, self._adopt = self._adopt, None
        self.actor_peers.update(adopted.peers)
        restarted = ActorRestarted(role=Role.SUPERVISOR, ref=self.actor_ref)
        for role in self._factories:
            ref = self.actor_peers.get(role)
            if ref is None or not ref.is_alive():
                self._restart(ChildActorExited(
                    role=role, actor_urn=ref.actor_urn if ref else "", reason="actor.crashed",
                    message="died while its Supervisor was being replaced",
                ))
            else:
                self.reply(ref, restarted)
        self.actor_log.warning("supervisor.adopted", roles=sorted(adopted.peers))

    def on_failure(self, *exc_info: Any) -> None:
        # Hand over what this Supervisor knew: the Guardian starts the next one with it.
        self.actor_log.error("actor.crashed", reason="actor.crashed", error=repr(exc_info[1]))
        guardian = self.actor_peers.get(Role.GUARDIAN)
        if guardian is not None:
            children = {r: ref for r, ref in self.actor_peers.items() if r in self._factories}
            self.reply(guardian, SupervisorExited(
                peers=children, restarts=tuple(self._restarts), message=repr(exc_info[1]),
            ))

    def on_stop(self) -> None:
        """Stops the children, last started first, each after its inbox drains."""
        for role in reversed(list(self._factories)):
            ref = self.actor_peers.get(role)
            if ref is None:
                continue
            try:
                ref.stop(block=True, timeout=60)
            except pykka.Timeout:
                # Stop the rest regardless: a stuck child must not keep the others alive.
                self.actor_log.error("actor.stop_timeout", role=role)

    def handle(self, message: Any) -> Any:
        match message:
            case DecideRecovery():
                return self._decide(message)
            case ChildActorExited():
                return self._restart(message)
            case GetActor(role=role, reply_to=reply_to):
                return self.reply(reply_to, self.actor_peers.get(role))
            case Watch(ref=ref):
                self._watchers.append(ref)
                if self._broken is not None:
                    ref.tell(self._broken)
                return None
            case _:
                return super().handle(message)

    def _decide(self, request: DecideRecovery) -> Any:
        decision = self._policy.decide(request.reason, request.attempt,
                                       degradable=request.degradable)
        strategy, text = decision.strategy, request.message
        alike = self._systemic.failed(request.job_id, request.index, request.reason)
        if alike is not None and strategy in (Strategy.SKIP, Strategy.FAIL):
            strategy = Strategy.ABORT
            text = (
                f"systemic failure: {alike} of the job's first "
                f"{self._policy.systemic_window} items failed with {request.reason}; "
                f"the last: {request.message}"
            )
        key = _ItemKey(job_id=request.job_id, index=request.index, attempt=request.attempt)
        answer: Any
        match strategy:
            case Strategy.RETRY:
                answer = Retry(**key, after_s=decision.after_s)
            case Strategy.DEGRADE:
                answer = Degrade(**key, reduce=decision.reduce)
            case Strategy.SKIP:
                answer = Skip(**key, reason=request.reason, message=text)
            case Strategy.FAIL:
                answer = Fail(**key, reason=request.reason, message=text)
            case Strategy.ABORT:
                answer = AbortJob(**key, reason=request.reason, message=text)
        self.actor_log.info(
            "recovery.decided",
            job_id=request.job_id,
            index=request.index,
            reason=request.reason,
            attempt=request.attempt,
            decision=strategy.value,
            after_s=round(decision.after_s, 3),
        )
        return self.reply(request.reply_to, answer)

    def _restart(self, exited: ChildActorExited) -> None:
        if exited.role not in self._factories or self._broken is not None:
            return
        current = self.actor_peers.get(exited.role)
        if current is not None and current.actor_urn != exited.actor_urn and current.is_alive():
            return  # an actor already replaced, reporting twice
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self._restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self._max_restarts:
            self._broken = RuntimeBroken(
                role=exited.role,
                reason="runtime.broken",
                message=(
                    f"{exited.role} died {len(self._restarts) + 1} times within "
                    f"{self._restart_window_s:g} s: {exited.message}"
                ),
            )
            self.actor_log.critical("runtime.broken", role=exited.role, error=exited.message)
            self._tell_all(self._broken)
            return
        self._restarts.append(now)
        ref = self._start(exited.role)
        self.actor_peers[exited.role] = ref
        self.actor_log.warning("actor.restarted", role=exited.role, error=exited.message)
        restarted = ActorRestarted(role=exited.role, ref=ref)
        self._tell_all(restarted, skip=ref)

    def _start(self, role: str) -> pykka.ActorRef[Any]:
        context = ActorContext(
            log=self._context.log, timer=self._context.timer, peers=dict(self.actor_peers),
            faults=self._context.faults,
        )
        return self._factories[role](context)

    def _tell_all(self, message: Any, skip: pykka.ActorRef[Any] | None = None) -> None:
        targets = [ref for role, ref in self.actor_peers.items() if role != Role.SUPERVISOR]
        for ref in [*targets, *self._watchers]:
            if ref is not skip:
                self.reply(ref, message)
