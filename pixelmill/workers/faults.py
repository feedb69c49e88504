"""Faults injected on purpose, for tests and drills: what a `FaultPlan` is and what it draws."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ACTOR_ROLES", "FAULTS", "STAGES", "Fault", "FaultPlan", "FaultTarget", "Stage"]


ACTOR_ROLES = (
    "job_manager", "exporter", "resource_manager", "processor_pool", "monitor", "supervisor",
)
"""The actors a `FaultPlan` may crash: every role the Supervisor (or, for itself,
the Runtime) replaces."""

Fault = Literal["fail", "crash", "hang"]
"""What a worker does to an attempt: fail it with a transient I/O error
(`io.transient`), die of SIGSEGV mid-item, or hang until the item's time limit."""

FAULTS: tuple[Fault, ...] = ("fail", "crash", "hang")

Stage = Literal["work", "probe"]
"""Where in a worker a target's fault strikes: an item's work, or its header probe."""

STAGES: tuple[Stage, ...] = ("work", "probe")


@dataclass(frozen=True, slots=True)
class FaultTarget:
    """A fault for the inputs with this file name: on every attempt, or on some.

    `FaultTarget("b.png", "crash")` crashes every attempt of any input named
    `b.png`; `FaultTarget("a.png", "hang", attempts=(1,))` hangs its first
    attempt only, so its retry goes through; `FaultTarget("c.png", "hang",
    stage="probe")` hangs the worker reading its header, before any work.
    """

    name: str
    """A file name (`b.png`), matched against the input path's last part."""
    fault: Fault
    attempts: tuple[int, ...] = ()
    """The attempts it strikes, 1 being the first; empty strikes every attempt."""
    stage: Stage = "work"
    """Where it strikes: the item's work, or the probe of its header."""

    def strikes(self, path: Path, attempt: int, stage: Stage = "work") -> bool:
        return (path.name == self.name and stage == self.stage
                and (not self.attempts or attempt in self.attempts))


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """Faults injected into workers and actors, for tests and drills; off unless a Runtime asks.

    An attempt of an input named by one of `targets` gets that target's fault.
    Every other attempt draws once from the rates, deterministically from
    `seed`, the path and the attempt number, so a retry draws afresh and a
    run repeats. A test that needs a given input to fail names it in
    `targets` instead of searching for a seed.
    """

    fail_rate: float = 0.0
    """Share of attempts that fail with a transient I/O error (`io.transient`)."""
    crash_rate: float = 0.0
    """Share of attempts whose worker dies of SIGSEGV mid-item."""
    hang_rate: float = 0.0
    """Share of attempts whose worker hangs until the item's time limit."""
    targets: tuple[FaultTarget, ...] = ()
    """Faults for named inputs, at most one target per file name; they take
    precedence over the rates for the attempts they strike."""
    actor_crash_rate: float = 0.0
    """Chance that an actor raises while handling a message (before it acts on
    it): the actor dies, its inbox is lost, and the Supervisor replaces it."""
    actors: tuple[str, ...] = ACTOR_ROLES
    """The roles `actor_crash_rate` applies to (names from `ACTOR_ROLES`)."""
    seed: int = 0

    def draw(self, path: Path, attempt: int, stage: Stage = "work") -> Fault | None:
        """The fault for this attempt of `path` at `stage`, or None.

        The rates strike an item's work only; a probe faults only where a target says.
        """
        for target in self.targets:
            if target.strikes(path, attempt, stage):
                return target.fault
        if stage != "work":
            return None
        digest = hashlib.blake2b(f"{self.seed}:{path}:{attempt}".encode(), digest_size=8)
        roll = int.from_bytes(digest.digest(), "big") / 2**64
        for fault, rate in zip(FAULTS, (self.fail_rate, self.crash_rate, self.hang_rate),
                               strict=True):
            if roll < rate:
                return fault
            roll -= rate
        return None
