"""The work protocol: the JobManager, the ProcessorPool and its Processors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline
    from pixelmill.imaging.safe_open import ProbedFile

__all__ = [
    "AbandonJob",
    "BatchDone",
    "BatchItem",
    "HeaderRead",
    "HeadersRead",
    "ItemDone",
    "ItemFailed",
    "ProbeHeaders",
    "ProbeItem",
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
class ProbeItem:
    """One file of a `ProbeHeaders`."""

    index: int
    path: Path
    probe: int
    """Which probe of the item this is; echoed, so an earlier one's answer is known as stale."""
    attempt: int = 1
    """The attempt the recovery policy counts (a fault drill draws on it too)."""
    content_hash: bool = False
    """Also hash the file's bytes (the result cache's key)."""


@message
class ProbeHeaders:
    """Read the headers of files (and hash their bytes where asked) in a worker.

    Answered with one `HeadersRead`. Headers are untrusted bytes: they are
    read in a worker process, under its memory cap and time limit, never in
    the host. Several files share one call into a worker, as a
    `ProcessBatch`'s items do; when the worker dies or runs past its limit,
    each of them fails with that reason.
    """

    job_id: str
    items: tuple[ProbeItem, ...]
    reply_to: ActorRef[Any]


@message
class HeaderRead:
    """One file's probe: its header and identity (`probed`), or why it could not be read."""

    index: int
    path: Path
    probe: int
    probed: ProbedFile | None = None
    reason: str | None = None
    message: str | None = None
    worker: int | None = None
    """Which Processor read it."""


@message
class HeadersRead:
    """The answers to a `ProbeHeaders`, one per file, in its order."""

    job_id: str
    outcomes: tuple[HeaderRead, ...]


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
