"""The work protocol: the JobManager, the ProcessorPool and its Processors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline

__all__ = [
    "AbandonJob",
    "BatchDone",
    "BatchItem",
    "ItemDone",
    "ItemFailed",
    "Process",
    "ProcessBatch",
    "ProcessorIdle",
]


@message
class Process:
    """Run the pipeline on one item; answered with `ItemDone` or `ItemFailed`.

    Only the path and the pipeline description cross into the worker process,
    never pixels.
    """

    job_id: str
    index: int
    path: Path
    pipeline: Pipeline
    target: OutputTarget
    attempt: int = 1
    """The attempt the recovery policy counts (a fault drill draws on it too)."""
    run: int = 1
    """Which start of the item this is, uncounted re-runs included; echoed in the
    answer, so an answer to an earlier run is known as stale."""
    reduce: int = 1
    """Decode at 1/`reduce` scale: set when the Supervisor degrades a memory failure."""
    plugins: tuple[str, ...] = ()
    """Modules (or `file:` scripts) that register the host's own ops; loaded first."""
    reply_to: ActorRef[Any]


@message
class BatchItem:
    """One item of a `ProcessBatch`."""

    index: int
    path: Path
    target: OutputTarget
    attempt: int = 1
    run: int = 1


@message
class ProcessBatch:
    """Run the pipeline on several small items, one after another, in one worker.

    Answered with one `BatchDone`. Per item, what would cost more than the
    work itself (a lease, a trip through the pool, a call into the worker
    process) is paid once per batch. If the worker dies or runs past the
    time limit, every item of the batch fails with that reason, and the
    JobManager runs each one again on its own, without counting an attempt.
    """

    job_id: str
    items: tuple[BatchItem, ...]
    pipeline: Pipeline
    plugins: tuple[str, ...] = ()
    reply_to: ActorRef[Any]


@message
class BatchDone:
    """The outcomes of a `ProcessBatch`, one per item, in its order."""

    job_id: str
    outcomes: tuple[ItemDone | ItemFailed, ...]


@message
class ItemDone:
    """The item went through the whole pipeline."""

    job_id: str
    index: int
    attempt: int
    run: int = 1
    result: ItemResult
    worker: int
    """Which Processor ran it."""


@message
class ItemFailed:
    """The item failed; `reason` is a dotted class (errors.py), never a traceback."""

    job_id: str
    index: int
    attempt: int
    run: int = 1
    reason: str
    message: str
    worker: int


@message
class ProcessorIdle:
    """A Processor finished its item and can take the next one (to its pool)."""

    worker: int


@message
class AbandonJob:
    """Drop a job's queued items and stop its running ones (their workers are killed).

    Nothing is answered for them: the JobManager has already settled them.
    """

    job_id: str
