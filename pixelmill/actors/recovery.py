"""The recovery policy as data: which failure class gets which strategy."""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Decision", "RecoveryPolicy", "Rule", "Strategy", "SystemicWatch"]


class Strategy(enum.StrEnum):
    """What the Supervisor does about a failed item."""

    RETRY = "retry"
    """Run it again after a backoff, up to the rule's attempts; then `exhausted`."""
    DEGRADE = "degrade"
    """Run it again at once, decoded at half the scale of the last attempt."""
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
    "resource.memory": Rule(Strategy.DEGRADE, max_attempts=3, exhausted=Strategy.SKIP),
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
    reduce: int = 1
    """The decode scale divisor of a degraded attempt."""


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
    systemic_window: int = 20
    """A job's first items, by index, watched for a systemic failure; 0 turns it off."""
    systemic_ratio: float = 0.5
    """More than this share of the window failing with one class aborts the job."""

    def with_rules(self, overrides: Mapping[str, Rule]) -> RecoveryPolicy:
        """A copy whose table has `overrides` laid over this one's."""
        return dataclasses.replace(self, rules={**self.rules, **overrides})

    def rule_for(self, reason: str) -> Rule:
        """The rule of the most specific class that matches `reason`."""
        parts = reason.split(".")
        for end in range(len(parts), 0, -1):
            rule = self.rules.get(".".join(parts[:end]))
            if rule is not None:
                return rule
        return self.rules.get("internal", Rule(Strategy.FAIL))

    def decide(
        self, reason: str, attempt: int, rng: random.Random | None = None, *,
        degradable: bool = True,
    ) -> Decision:
        """What to do after attempt number `attempt` (from 1) failed with `reason`.

        A DEGRADE rule for an item that no smaller decode would help
        (`degradable` false: a PNG decodes at full size at any scale) ends it
        at once as its attempts' end would, instead of failing again alike.
        """
        rule = self.rule_for(reason)
        if rule.strategy not in (Strategy.RETRY, Strategy.DEGRADE):
            return Decision(rule.strategy)
        if attempt >= rule.max_attempts or (rule.strategy is Strategy.DEGRADE and not degradable):
            return Decision(rule.exhausted)
        if rule.strategy is Strategy.DEGRADE:
            return Decision(Strategy.DEGRADE, reduce=min(8, 2**attempt))
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        factor = 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return Decision(Strategy.RETRY, after_s=max(0.0, delay * factor))


class SystemicWatch:
    """Spots a job whose first items fail alike, so it aborts early.

    It remembers, per job, which of the first `window` items (by index)
    failed with which class; that is at most `window` indices a job, and at
    most `jobs` jobs (the oldest forgotten first).
    """

    def __init__(self, policy: RecoveryPolicy, jobs: int = 256) -> None:
        self._window = policy.systemic_window
        self._limit = policy.systemic_ratio * policy.systemic_window
        self._jobs = jobs
        self._failures: dict[str, dict[str, set[int]]] = {}

    def failed(self, job_id: str, index: int, reason: str) -> int | None:
        """Record a failure; return how many failed alike when that is systemic."""
        if index >= self._window:
            return None
        classes = self._failures.pop(job_id, {})
        self._failures[job_id] = classes  # most recently used last
        while len(self._failures) > self._jobs:
            del self._failures[next(iter(self._failures))]
        alike = classes.setdefault(reason, set())
        alike.add(index)
        return len(alike) if len(alike) > self._limit else None
