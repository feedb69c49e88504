"""Faults injected on purpose, for tests and drills: what a `FaultPlan` is and what it draws."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ACTOR_ROLES", "FaultPlan"]


ACTOR_ROLES = (
    "job_manager", "exporter", "resource_manager", "processor_pool", "monitor", "supervisor",
)
"""The actors a `FaultPlan` may crash: every role the Supervisor (or, for itself,
the Runtime) replaces."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """Faults injected into workers, for tests and drills; off unless a Runtime asks.

    Each attempt of each item draws once, deterministically from `seed`, the
    path and the attempt number, so a retry draws afresh and a run repeats.
    """

    fail_rate: float = 0.0
    """Share of attempts that fail with a transient I/O error (`io.transient`)."""
    crash_rate: float = 0.0
    """Share of attempts whose worker dies of SIGSEGV mid-item."""
    hang_rate: float = 0.0
    """Share of attempts whose worker hangs until the item's time limit."""
    actor_crash_rate: float = 0.0
    """Chance that an actor raises while handling a message (before it acts on
    it): the actor dies, its inbox is lost, and the Supervisor replaces it."""
    actors: tuple[str, ...] = ACTOR_ROLES
    """The roles `actor_crash_rate` applies to (names from `ACTOR_ROLES`)."""
    seed: int = 0

    def draw(self, path: Path, attempt: int) -> str | None:
        """`"fail"`, `"crash"`, `"hang"` or None for this attempt."""
        digest = hashlib.blake2b(f"{self.seed}:{path}:{attempt}".encode(), digest_size=8)
        roll = int.from_bytes(digest.digest(), "big") / 2**64
        for fault, rate in (("fail", self.fail_rate), ("crash", self.crash_rate),
                            ("hang", self.hang_rate)):
            if roll < rate:
                return fault
            roll -= rate
        return None
