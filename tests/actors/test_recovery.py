"""The recovery policy as data: which class gets which strategy, and the backoff."""

from __future__ import annotations

import random

from pixelmill.actors.recovery import RecoveryPolicy, Rule, Strategy, SystemicWatch


def test_input_errors_are_skipped_at_once() -> None:
    policy = RecoveryPolicy()
    for reason in ("input.truncated", "input.not_image", "input.too_large", "input.not_a_file"):
        assert policy.decide(reason, attempt=1).strategy is Strategy.SKIP


def test_output_errors_abort_the_job() -> None:
    assert RecoveryPolicy().decide("output.no_space", attempt=1).strategy is Strategy.ABORT


def test_transient_errors_are_retried_with_growing_backoff_then_failed() -> None:
    policy = RecoveryPolicy(backoff_s=0.1, jitter=0.0)
    first = policy.decide("io.transient", attempt=1)
    second = policy.decide("io.transient", attempt=2)
    assert (first.strategy, second.strategy) == (Strategy.RETRY, Strategy.RETRY)
    assert (first.after_s, second.after_s) == (0.1, 0.2)
    assert policy.decide("io.transient", attempt=3).strategy is Strategy.FAIL


def test_jitter_keeps_the_backoff_within_its_band() -> None:
    policy = RecoveryPolicy(backoff_s=1.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.decide("io.transient", attempt=1, rng=rng).after_s for _ in range(200)]
    assert all(0.5 <= delay <= 1.5 for delay in delays)
    assert len(set(delays)) > 100


def test_a_crashed_worker_is_retried_once_then_skipped() -> None:
    policy = RecoveryPolicy()
    assert policy.decide("worker.crashed", attempt=1).strategy is Strategy.RETRY
    assert policy.decide("worker.crashed", attempt=2).strategy is Strategy.SKIP


def test_unknown_classes_are_internal_errors_and_fail() -> None:
    assert RecoveryPolicy().decide("martian.invasion", attempt=1).strategy is Strategy.FAIL


def test_overrides_replace_only_their_class() -> None:
    policy = RecoveryPolicy().with_rules({"input.truncated": Rule(Strategy.ABORT)})
    assert policy.decide("input.truncated", attempt=1).strategy is Strategy.ABORT
    assert policy.decide("input.not_image", attempt=1).strategy is Strategy.SKIP


def test_memory_failures_degrade_at_halving_scales_then_skip() -> None:
    policy = RecoveryPolicy()
    first = policy.decide("resource.memory", attempt=1)
    second = policy.decide("resource.memory", attempt=2)
    assert (first.strategy, first.reduce) == (Strategy.DEGRADE, 2)
    assert (second.strategy, second.reduce) == (Strategy.DEGRADE, 4)
    assert policy.decide("resource.memory", attempt=3).strategy is Strategy.SKIP


def test_a_class_failing_most_of_the_first_items_is_systemic() -> None:
    watch = SystemicWatch(RecoveryPolicy(systemic_window=20, systemic_ratio=0.5))
    verdicts = [watch.failed("job", index, "input.not_image") for index in range(11)]
    assert verdicts[:10] == [None] * 10
    assert verdicts[10] == 11


def test_failures_past_the_window_or_of_mixed_classes_are_not_systemic() -> None:
    watch = SystemicWatch(RecoveryPolicy(systemic_window=20, systemic_ratio=0.5))
    for index in range(20):
        reason = "input.not_image" if index % 2 else "input.truncated"
        assert watch.failed("job", index, reason) is None
    assert all(watch.failed("job", index, "input.truncated") is None for index in range(20, 80))


def test_a_repeated_attempt_of_one_item_counts_once() -> None:
    watch = SystemicWatch(RecoveryPolicy(systemic_window=4, systemic_ratio=0.5))
    assert [watch.failed("job", 0, "io.transient") for _ in range(5)] == [None] * 5
