"""The Supervisor through its messages: recovery decisions and restarts of dead actors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pykka

from pixelmill.actors.base import Actor, ActorContext
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.actors.supervisor import Supervisor
from pixelmill.messages import (
    AbortJob,
    ActorRestarted,
    DeadLetter,
    DecideRecovery,
    Degrade,
    GetActor,
    Retry,
    RuntimeBroken,
    Skip,
    Watch,
)

if TYPE_CHECKING:
    from pixelmill.testing import Probe


class _Crash:
    """Makes a `_Fragile` actor raise."""


class _Fragile(Actor):
    actor_role = "fragile"

    def handle(self, message: Any) -> Any:
        match message:
            case _Crash():
                raise RuntimeError("boom")
            case "ping":
                return "pong"
            case _:
                return super().handle(message)


def _supervisor(context: ActorContext, **kwargs: Any) -> pykka.ActorRef[Any]:
    return Supervisor.start(
        context, factories={"fragile": _Fragile.start}, policy=RecoveryPolicy(), **kwargs
    )


def _decide(probe: Probe, reason: str, attempt: int = 1) -> DecideRecovery:
    return DecideRecovery(
        job_id="j", index=4, reason=reason, message="why", attempt=attempt, reply_to=probe.ref
    )


def test_input_failures_are_answered_with_skip(context: ActorContext, probe: Probe) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(_decide(probe, "input.truncated"))
    skip = probe.expect(Skip)
    assert (skip.job_id, skip.index, skip.reason) == ("j", 4, "input.truncated")


def test_transient_failures_are_answered_with_retry(context: ActorContext, probe: Probe) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(_decide(probe, "io.transient"))
    assert probe.expect(Retry).after_s > 0


def test_output_failures_are_answered_with_abort(context: ActorContext, probe: Probe) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(_decide(probe, "output.permission"))
    assert probe.expect(AbortJob).reason == "output.permission"


def test_a_crashed_child_is_replaced_and_watchers_are_told(
    context: ActorContext, probe: Probe
) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(Watch(ref=probe.ref))
    first = supervisor.ask(GetActor(role="fragile"), timeout=5)
    first.tell(_Crash())
    restarted = probe.expect(ActorRestarted)
    assert restarted.role == "fragile"
    assert restarted.ref is not first
    assert not first.is_alive()
    assert restarted.ref.ask("ping", timeout=5) == "pong"
    assert supervisor.ask(GetActor(role="fragile"), timeout=5) == restarted.ref


def test_too_many_restarts_break_the_runtime(context: ActorContext, probe: Probe) -> None:
    supervisor = _supervisor(context, max_restarts=2, restart_window_s=60)
    supervisor.tell(Watch(ref=probe.ref))
    for _ in range(2):
        supervisor.ask(GetActor(role="fragile"), timeout=5).tell(_Crash())
        probe.expect(ActorRestarted)
    supervisor.ask(GetActor(role="fragile"), timeout=5).tell(_Crash())
    broken = probe.expect(RuntimeBroken)
    assert broken.role == "fragile"
    assert "3 times" in broken.message


def test_an_unknown_message_is_answered_as_a_dead_letter(
    context: ActorContext, probe: Probe
) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(GetActorTypo(reply_to=probe.ref))
    letter = probe.expect(DeadLetter)
    assert (letter.actor, letter.message_type) == ("supervisor", "GetActorTypo")


class GetActorTypo:
    def __init__(self, reply_to: Any) -> None:
        self.reply_to = reply_to


def test_stopping_the_supervisor_stops_its_children(context: ActorContext) -> None:
    supervisor = _supervisor(context)
    child = supervisor.ask(GetActor(role="fragile"), timeout=5)
    supervisor.stop(block=True)
    assert not child.is_alive()


def test_most_of_the_first_items_failing_alike_aborts_the_job(
    context: ActorContext, probe: Probe
) -> None:
    supervisor = _supervisor(context)
    for index in range(11):
        supervisor.tell(DecideRecovery(job_id="j", index=index, reason="input.not_image",
                                       message="text", attempt=1, reply_to=probe.ref))
    answers = [probe.next() for _ in range(11)]
    assert all(isinstance(a, Skip) for a in answers[:10])
    assert isinstance(answers[10], AbortJob)
    assert answers[10].reason == "input.not_image"
    assert "systemic" in answers[10].message


def test_a_memory_failure_is_answered_with_degrade(context: ActorContext, probe: Probe) -> None:
    supervisor = _supervisor(context)
    supervisor.tell(_decide(probe, "resource.memory"))
    assert probe.expect(Degrade).reduce == 2
