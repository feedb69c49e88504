"""`RuntimeStatistics`: what a Runtime has done and holds, counted on the host's side.

Two tallies feed it, neither an actor nor a new message: the Relay counts the
job events it carries anyway (`EventTally`), and the Runtime's log chain counts
the restarts its actors log anyway (`RestartTally`). Reading them takes a lock
for a copy, never an actor's time.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixelmill.messages import ItemFinished, JobFinished

if TYPE_CHECKING:
    from collections.abc import Mapping

    from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "DURATION_BUCKETS_S",
    "DurationHistogram",
    "EventTally",
    "RestartTally",
    "RuntimeStatistics",
]

DURATION_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Upper bounds of the item duration histogram, in seconds (an item past the last
one is counted only in the total: Prometheus's `+Inf` bucket)."""


@dataclass(frozen=True, slots=True)
class DurationHistogram:
    """How long finished items took, from their start in a worker to their end."""

    bounds_s: tuple[float, ...] = DURATION_BUCKETS_S
    counts: tuple[int, ...] = (0,) * (len(DURATION_BUCKETS_S) + 1)
    """Items per bucket, not cumulative; the last is past every bound."""
    sum_s: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeStatistics:
    """A snapshot of one Runtime, as `Runtime.statistics()` returns it.

    Counts (`items_finished`, `jobs_finished`, restarts) run from the
    Runtime's start; the rest is now. `pixelmill.metrics` publishes it.
    """

    items_finished: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Finished items by (status, reason); the reason is the dotted failure class
    (`input.truncated`), or "" for an item done."""
    item_durations: Mapping[str, DurationHistogram] = field(default_factory=dict)
    """The durations of finished items, by status."""
    jobs_running: int = 0
    """Jobs submitted and not ended."""
    jobs_finished: Mapping[str, int] = field(default_factory=dict)
    """Ended jobs by status (`completed`, `aborted`, `cancelled`)."""
    items_queued: int = 0
    """Items of running jobs found and neither running nor finished."""
    items_running: int = 0
    memory_mb: int | None = None
    """The ResourceManager's memory budget; None when it did not answer in time."""
    memory_leased_mb: int | None = None
    """Memory held by leases (may pass `memory_mb` while the budget is halved)."""
    cpu_slots: int | None = None
    cpu_slots_leased: int | None = None
    leases_queued: int | None = None
    """Lease requests waiting for memory or a CPU slot."""
    worker_restarts: int = 0
    """Worker processes (or Ray actors) replaced: crashed, killed at a time limit, died idle."""
    actor_restarts: Mapping[str, int] = field(default_factory=dict)
    """Actors replaced after a crash, by role (`processor` for a Processor)."""
    rss_mb: float | None = None
    """Resident memory of this process and its children (workers, fork server)."""


class EventTally:
    """Counts a Runtime's items and jobs from the events the Relay carries.

    The Relay's thread records; any thread reads a copy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: Counter[tuple[str, str]] = Counter()
        self._durations: dict[str, tuple[list[int], float]] = {}
        self._jobs: Counter[str] = Counter()

    def record(self, event: Any) -> None:
        match event:
            case ItemFinished(status=status, reason=reason, duration_ms=duration_ms):
                seconds = duration_ms / 1000
                bucket = bisect.bisect_left(DURATION_BUCKETS_S, seconds)
                with self._lock:
                    self._items[str(status), reason or ""] += 1
                    counts, total = self._durations.get(
                        str(status), ([0] * (len(DURATION_BUCKETS_S) + 1), 0.0)
                    )
                    counts[bucket] += 1
                    self._durations[str(status)] = (counts, total + seconds)
            case JobFinished(status=status):
                with self._lock:
                    self._jobs[str(status)] += 1

    def read(self) -> tuple[dict[tuple[str, str], int], dict[str, DurationHistogram],
                            dict[str, int]]:
        """Copies: finished items, their durations, ended jobs."""
        with self._lock:
            durations = {
                status: DurationHistogram(counts=tuple(counts), sum_s=total)
                for status, (counts, total) in self._durations.items()
            }
            return dict(self._items), durations, dict(self._jobs)


class RestartTally:
    """A structlog processor that counts the restarts a Runtime's actors log.

    `actor.restarted` (by the Supervisor and the Guardian, with its `role`),
    `processor.restarted` (by the ProcessorPool) and `worker.replaced` (by a
    Processor) are the record of every restart already; counting them here
    needs no message and no change to any actor. Runs in the logging thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actors: Counter[str] = Counter()
        self._workers = 0

    def __call__(self, _logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
        name = event.get("event")
        if name in ("actor.restarted", "processor.restarted", "worker.replaced"):
            with self._lock:
                if name == "worker.replaced":
                    self._workers += 1
                else:
                    self._actors[str(event.get("role", "processor"))] += 1
        return event

    def read(self) -> tuple[int, dict[str, int]]:
        """Copies: worker restarts, actor restarts by role."""
        with self._lock:
            return self._workers, dict(self._actors)
