"""FaultPlan: named targets, rates, and how they combine."""

from __future__ import annotations

from pathlib import Path

from pixelmill.workers.faults import FaultPlan, FaultTarget


def test_a_target_strikes_its_file_name_on_every_attempt_in_any_directory() -> None:
    plan = FaultPlan(targets=(FaultTarget("b.png", "crash"),))
    assert [plan.draw(Path("in/b.png"), attempt) for attempt in (1, 2, 3)] == ["crash"] * 3
    assert plan.draw(Path("/elsewhere/b.png"), 1) == "crash"
    assert plan.draw(Path("in/a.png"), 1) is None
    assert plan.draw(Path("in/b.png.jpg"), 1) is None, "the whole name, not a prefix"


def test_a_target_with_attempts_strikes_only_those() -> None:
    plan = FaultPlan(targets=(FaultTarget("a.png", "hang", attempts=(1,)),
                              FaultTarget("c.png", "fail", attempts=(2, 3))))
    assert [plan.draw(Path("a.png"), attempt) for attempt in (1, 2)] == ["hang", None]
    assert [plan.draw(Path("c.png"), attempt) for attempt in (1, 2, 3, 4)] == [
        None, "fail", "fail", None
    ]


def test_targets_take_precedence_and_every_other_attempt_draws_from_the_rates() -> None:
    rates = FaultPlan(fail_rate=0.3, crash_rate=0.3, hang_rate=0.3, seed=5)
    both = FaultPlan(fail_rate=0.3, crash_rate=0.3, hang_rate=0.3, seed=5,
                     targets=(FaultTarget("x.png", "fail", attempts=(2,)),))
    paths = [Path(f"in/{i}.png") for i in range(50)]
    assert [both.draw(p, 1) for p in paths] == [rates.draw(p, 1) for p in paths]
    assert both.draw(Path("in/x.png"), 2) == "fail"
    assert both.draw(Path("in/x.png"), 1) == rates.draw(Path("in/x.png"), 1)


def test_draws_repeat_and_a_plan_with_targets_is_a_hashable_value() -> None:
    def make() -> FaultPlan:
        return FaultPlan(hang_rate=0.5, targets=(FaultTarget("a.png", "hang", (1,)),))

    assert make() == make()
    assert hash(make()) == hash(make())
    draws = [make().draw(Path(f"{i}.png"), 1) for i in range(20)]
    assert draws == [make().draw(Path(f"{i}.png"), 1) for i in range(20)]
    assert {"hang", None} == set(draws), "half of them hang, by the rate"
