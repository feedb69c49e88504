"""The JobManager's private bookkeeping of one job and its items."""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from pixelmill.messages import ItemStatus, JobCounts, JobFinished, JobStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pykka

    from pixelmill.actors._inputs import Input
    from pixelmill.messages import JobOrder

__all__ = ["TERMINAL", "Item", "Job", "RetryDue"]


@dataclasses.dataclass(slots=True)
class Item:
    index: int
    input: Input
    attempt: int = 1
    started: float = 0.0
    reduce: int = 1
    """Set by a `Degrade` decision: decode at 1/reduce scale."""
    memory_mb: int = 0
    """The memory its lease asks for, estimated from its header."""


@dataclasses.dataclass(eq=False)
class Job:
    order: JobOrder
    listener: pykka.ActorRef[Any] | None
    seq: int
    inputs: Iterator[Input]
    started_wall: float = dataclasses.field(default_factory=time.time)
    started: float = dataclasses.field(default_factory=time.monotonic)
    expanded: bool = False
    next_index: int = 0
    ready: deque[Item] = dataclasses.field(default_factory=deque)
    waiting: dict[int, Item] = dataclasses.field(default_factory=dict)
    """Items whose lease is requested and not yet granted."""
    running: dict[int, Item] = dataclasses.field(default_factory=dict)
    deciding: dict[int, Item] = dataclasses.field(default_factory=dict)
    retrying: dict[int, Item] = dataclasses.field(default_factory=dict)
    counts: dict[ItemStatus, int] = dataclasses.field(default_factory=dict)
    stopping: JobStatus | None = None
    reason: str | None = None
    message: str | None = None
    closing: bool = False
    summary: JobFinished | None = None
    prior: dict[str, ItemStatus] = dataclasses.field(default_factory=dict)
    """On a resume: the items an earlier run finished, by path; not redone."""
    replay: Iterator[dict[str, Any]] | None = None
    """On a resume: their records, still to be re-exported; None when all were."""
    """Set when the export is being closed; sent to the listener once it is."""

    @property
    def job_id(self) -> str:
        return self.order.job_id

    def lease_id(self, item: Item) -> str:
        return f"{self.job_id}/{item.index}/{item.attempt}"

    def job_counts(self) -> JobCounts:
        return JobCounts(
            total=self.next_index,
            **{status.value: self.counts.get(status, 0) for status in TERMINAL},
        )

    def idle(self) -> bool:
        return not (
            self.ready or self.waiting or self.running or self.deciding or self.retrying
            or self.replay is not None
        )


TERMINAL = (ItemStatus.DONE, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.CANCELLED)


@dataclasses.dataclass(frozen=True, slots=True)
class RetryDue:
    """A retry's backoff is over (sent by the Timer to the JobManager itself)."""

    job_id: str
    index: int
