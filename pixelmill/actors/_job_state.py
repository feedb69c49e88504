"""The JobManager's private bookkeeping of one job and its items."""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from pixelmill.messages import ItemStatus, JobCounts, JobFinished, JobStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pykka

    from pixelmill.actors._inputs import Input
    from pixelmill.imaging.pipeline import Pipeline
    from pixelmill.imaging.safe_open import ImageHeader
    from pixelmill.messages import JobOrder

__all__ = ["TERMINAL", "Item", "Job", "Lookahead", "RetryDue"]


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
    header: ImageHeader | None = None
    """Its header, once probed."""
    decode_mp: float = 0.0
    """Its estimated cost (`estimate_decode_mp`), once probed."""
    lease: str = ""
    """The id of the lease it runs under, once requested."""
    batched: bool = False
    """Leased and run with other small items in one `ProcessBatch`."""
    solo: bool = False
    """Must run alone: its batch crashed or hung, and it may be why."""


class Lookahead:
    """Items read ahead of dispatch, their headers probed, handed out costliest first.

    Dispatching the longest items first (LPT scheduling) keeps every worker
    busy to the end of a job instead of leaving one to finish a large image
    alone; across the lookahead the order is by estimated work, not index.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Item]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: Item, work: float) -> None:
        heapq.heappush(self._heap, (-work, item.index, item))

    def pop(self) -> Item | None:
        return heapq.heappop(self._heap)[2] if self._heap else None


@dataclasses.dataclass(eq=False)
class Job:
    order: JobOrder
    listener: pykka.ActorRef[Any] | None
    seq: int
    inputs: Iterator[Input]
    pipeline: Pipeline
    """The order's pipeline, validated once."""
    started_wall: float = dataclasses.field(default_factory=time.time)
    started: float = dataclasses.field(default_factory=time.monotonic)
    expanded: bool = False
    next_index: int = 0
    ready: deque[Item] = dataclasses.field(default_factory=deque)
    """Items to run again (retries, degrades), ahead of new ones."""
    lookahead: Lookahead = dataclasses.field(default_factory=Lookahead)
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

    def next_input(self) -> Item | None:
        """The next input not finished by an earlier run, as a new item; None at the end."""
        if self.expanded:
            return None
        while (found := next(self.inputs, None)) is not None:
            item = Item(index=self.next_index, input=found)
            self.next_index += 1
            done_before = self.prior.get(str(found.path))
            if done_before is None:
                return item
            # Finished by an earlier run: counted, and re-exported by the replay.
            self.counts[done_before] = self.counts.get(done_before, 0) + 1
        self.expanded = True
        return None

    def job_counts(self) -> JobCounts:
        return JobCounts(
            total=self.next_index,
            **{status.value: self.counts.get(status, 0) for status in TERMINAL},
        )

    def idle(self) -> bool:
        return not (
            self.ready or self.lookahead or self.waiting or self.running or self.deciding
            or self.retrying or self.replay is not None
        )


TERMINAL = (ItemStatus.DONE, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.CANCELLED)


@dataclasses.dataclass(frozen=True, slots=True)
class RetryDue:
    """A retry's backoff is over (sent by the Timer to the JobManager itself)."""

    job_id: str
    index: int
