"""The recovery policy as data: which failure class gets which strategy."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Decision", "RecoveryPolicy", "Rule", "Strategy"]


class Strategy(enum.StrEnum):
    """What the Supervisor does about a failed item."""

    RETRY = "retry"
    """Run it again after a backoff, up to the rule's attempts; then fail it."""
    SKIP = "skip"
    """Give up on it at once as a bad input."""
    FAIL = "fail"
    """Give up on it at once; it is not the input's fault."""
    ABORT = "abort"
    """Stop the whole job: every other item would fail alike."""


@dataclass(frozen=True, slots=True)
class Rule:
    """The strategy for one failure class, and how retries end."""

    strategy: Strategy
    max_attempts: int = 1
    """Attempts in all, the first included, when the strategy is RETRY."""
    exhausted: Strategy = Strategy.FAIL
    """What happens when the attempts are used up."""


_DEFAULT_RULES: dict[str, Rule] = {
    "io.transient": Rule(Strategy.RETRY, max_attempts=3),
    "worker.crashed": Rule(Strategy.RETRY, max_attempts=2, exhausted=Strategy.SKIP),
    "worker.timeout": Rule(Strategy.SKIP),
    "resource": Rule(Strategy.RETRY, max_attempts=3, exhausted=Strategy.SKIP),
    "input": Rule(Strategy.SKIP),
    "output": Rule(Strategy.ABORT),
    "internal": Rule(Strategy.FAIL),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one failure."""

    strategy: Strategy
    after_s: float = 0.0
    """The backoff before a retry."""


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """A table from dotted failure class to `Rule`, matched most specific first.

    `input.truncated` is looked up as `input.truncated`, then `input`; a class
    the table does not know is treated as `internal`.
    """

    rules: Mapping[str, Rule] = field(default_factory=lambda: dict(_DEFAULT_RULES))
    backoff_s: float = 0.2
    """The delay before the first retry; each next one doubles it."""
    backoff_max_s: float = 10.0
    jitter: float = 0.5
    """Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]."""

    def with_rules(self, overrides: Mapping[str, Rule]) -> RecoveryPolicy:
        """A copy whose table has `overrides` laid over this one's."""
        return RecoveryPolicy(
            rules={**self.rules, **overrides},
            backoff_s=self.backoff_s,
            backoff_max_s=self.backoff_max_s,
            jitter=self.jitter,
        )

    def rule_for(self, reason: str) -> Rule:
        """The rule of the most specific class that matches `reason`."""
        parts = reason.split(".")
        for end in range(len(parts), 0, -1):
            rule = self.rules.get(".".join(parts[:end]))
            if rule is not None:
                return rule
        return self.rules.get("internal", Rule(Strategy.FAIL))

    def decide(self, reason: str, attempt: int, rng: random.Random | None = None) -> Decision:
        """What to do after attempt number `attempt` (from 1) failed with `reason`."""
        rule = self.rule_for(reason)
        if rule.strategy is not Strategy.RETRY:
            return Decision(rule.strategy)
        if attempt >= rule.max_attempts:
            return Decision(rule.exhausted)
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        factor = 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return Decision(Strategy.RETRY, after_s=max(0.0, delay * factor))
