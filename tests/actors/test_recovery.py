"""The recovery policy as data: which class gets which strategy, and the backoff."""

from __future__ import annotations

import random

from pixelmill.actors.recovery import RecoveryPolicy, Rule, Strategy


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
