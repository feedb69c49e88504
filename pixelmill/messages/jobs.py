"""The jobs protocol: the façade and the JobManager, and the events of a job."""

from __future__ import annotations

import enum
from dataclasses import field
from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.pipeline import ItemResult, Pipeline

__all__ = [
    "FINAL_STATUSES",
    "CancelJob",
    "IgnoredFile",
    "IgnoredFiles",
    "ItemFinished",
    "ItemStatus",
    "JobAccepted",
    "JobCounts",
    "JobFinished",
    "JobOrder",
    "JobProgress",
    "JobRefused",
    "JobStatus",
    "Priority",
    "SubmitJob",
]


class Priority(enum.IntEnum):
    """How urgent a job is; a lower value is served first, FIFO within one value."""

    URGENT = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class ItemStatus(enum.StrEnum):
    """Where an item stands; every item ends in exactly one of the five final statuses.

    On its way: `queued` (found, waiting for its header to be read and for its
    turn), `probing` (its header is being read), `leasing` (waiting for memory
    and a CPU slot), `running` (in a worker), `deciding` (it failed; the
    Supervisor decides what next), `retrying` (waiting out a retry's backoff).

    At its end: `done` (processed, outputs written); `cached` (an earlier run
    did the same work on the same bytes: its results and outputs are reused,
    nothing is decoded); `failed` (tried and given
    up on: retries exhausted, a worker bug, the output side broke); `skipped`
    (not processed on purpose: a bad input, a file gone, or its job was aborted
    before it ran); `cancelled` (its job was cancelled before it ran).
    """

    QUEUED = "queued"
    PROBING = "probing"
    LEASING = "leasing"
    RUNNING = "running"
    DECIDING = "deciding"
    RETRYING = "retrying"
    DONE = "done"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True for the five statuses an item ends in."""
        return self in _FINAL

    @property
    def succeeded(self) -> bool:
        """True for done and cached: the item's results and outputs exist."""
        return self in _SUCCEEDED


FINAL_STATUSES = (
    ItemStatus.DONE, ItemStatus.CACHED, ItemStatus.FAILED, ItemStatus.SKIPPED,
    ItemStatus.CANCELLED,
)
"""The statuses an item ends in, in the order counts and tables list them."""
_FINAL = frozenset(FINAL_STATUSES)
_SUCCEEDED = frozenset({ItemStatus.DONE, ItemStatus.CACHED})


class JobStatus(enum.StrEnum):
    """Where a job stands. `completed` means every item reached a terminal status."""

    RUNNING = "running"
    COMPLETED = "completed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"


@message
class JobOrder:
    """Everything the JobManager needs to run one job; built and validated by the façade."""

    job_id: str
    name: str
    inputs: tuple[str, ...]
    """Files, directories (walked recursively for image files) and globs."""
    pipeline: Pipeline
    output_dir: Path | None
    """Where `save` steps write; None when the pipeline saves nothing."""
    export_dir: Path
    priority: Priority = Priority.NORMAL
    exclude_dirs: tuple[Path, ...] = ()
    """Directories never walked for inputs (the job's own output and export dirs)."""
    charts: bool = False
    """Also draw each done item's RGB histogram as a PNG in the export dir."""
    plugins: tuple[str, ...] = ()
    """Modules (or `file:` scripts) defining the host's own ops, loaded by workers."""
    cache: bool = True
    """Reuse the results and outputs of earlier work on the same bytes (the result
    cache); False works every item."""
    verify_cache: bool = False
    """Hash every input even when its size and modification time are unchanged."""
    include_hidden: bool = False
    """A directory walk takes hidden files and walks hidden directories too."""

    def to_data(self) -> dict[str, Any]:
        """The JSON-ready description of the job (its id apart), enough to run it again."""
        return {
            "name": self.name,
            "inputs": list(self.inputs),
            **self.pipeline.to_data(),
            "output_dir": None if self.output_dir is None else str(self.output_dir),
            "export_dir": str(self.export_dir),
            "priority": self.priority.name.lower(),
            "exclude_dirs": [str(path) for path in self.exclude_dirs],
            "charts": self.charts,
            "plugins": list(self.plugins),
            "cache": self.cache,
            "verify_cache": self.verify_cache,
            "include_hidden": self.include_hidden,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, job_id: str) -> JobOrder:
        """The order `to_data` described, validated again.

        The ops it uses must be registered: load its `plugins` first.

        Raises:
            ConfigError: a step is no longer valid.
        """
        # Imported late: only the stored form needs them.
        from pathlib import Path

        from pixelmill.imaging.pipeline import Pipeline

        return cls(
            job_id=job_id,
            name=data["name"],
            inputs=tuple(data["inputs"]),
            pipeline=Pipeline.from_data(data),
            output_dir=None if data["output_dir"] is None else Path(data["output_dir"]),
            export_dir=Path(data["export_dir"]),
            priority=Priority[data["priority"].upper()],
            exclude_dirs=tuple(Path(path) for path in data["exclude_dirs"]),
            charts=bool(data.get("charts", False)),
            plugins=tuple(data.get("plugins", ())),
            cache=bool(data.get("cache", True)),
            verify_cache=bool(data.get("verify_cache", False)),
            include_hidden=bool(data.get("include_hidden", False)),
        )


@message
class SubmitJob:
    """Ask the JobManager to run a job; answered with `JobAccepted`."""

    order: JobOrder
    listener: ActorRef[Any] | None = None
    """Receives `ItemFinished`, `JobProgress` and `JobFinished` for this job."""
    resume: bool = False
    """Run a stored job again: items it finished are not redone, only re-exported.
    Answered `JobRefused` when another live process runs it."""
    reply_to: ActorRef[Any] | None = None


@message
class JobAccepted:
    """The job is recorded and its inputs are being expanded."""

    job_id: str


@message
class JobRefused:
    """The job was not taken: `reason` says why (`job.busy`: another live process
    runs it), `message` names what was wrong."""

    job_id: str
    reason: str
    message: str


@message
class CancelJob:
    """Stop dispatching a job's items; items not yet started end `cancelled`."""

    job_id: str
    abandon: bool = False
    """Also stop the items running now (their workers are replaced); they end
    `cancelled` too. Otherwise running items finish and keep their outcome."""


@message
class JobCounts:
    """How many of a job's items are in each status; terminal ones add up to `total`."""

    total: int = 0
    """Inputs found so far; final once `JobProgress.expanded` is true."""
    done: int = 0
    cached: int = 0
    """Items whose results and outputs an earlier run's work gave (nothing decoded)."""
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        """Items in a terminal status."""
        return self.done + self.cached + self.failed + self.skipped + self.cancelled

    @property
    def succeeded(self) -> int:
        """Items with their results and outputs: done now, or from the cache."""
        return self.done + self.cached

    def as_dict(self) -> dict[str, int]:
        """The counts as `summary.json` writes them."""
        return {
            "total": self.total,
            "done": self.done,
            "cached": self.cached,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
        }


@message
class IgnoredFile:
    """A file (or a whole directory) under an input directory that the walk did not take."""

    path: str
    """As the OS gave it; undecodable bytes are surrogate escapes."""
    reason: str
    """Why: `hidden`, `not_an_image`, `format_off`, `symlink_loop`, `broken_symlink`,
    `unreadable_dir`, `unreadable`, `not_a_file`, `walked_already` or `own_output`
    (the README's "Inputs" tells each)."""
    format: str | None = None
    """For `format_off`: the format it is in, which a `formats` setting may enable."""
    directory: bool = False
    """The entry is a directory, none of whose files were looked at."""

    def to_data(self) -> dict[str, Any]:
        """The entry as `summary.json` lists it."""
        data: dict[str, Any] = {"path": self.path, "reason": self.reason}
        if self.format is not None:
            data["format"] = self.format
        if self.directory:
            data["directory"] = True
        return data


@message
class IgnoredFiles:
    """What the walk of a job's input directories left, in bounded memory.

    Every file not taken is counted under its reason; the first `limit` of
    each reason, in walk order, are listed. A folder of 100,000 ignored files
    costs a count and `limit` entries.
    """

    counts: tuple[tuple[str, int], ...] = ()
    """(reason, how many), in the order the reasons were first met."""
    listed: tuple[IgnoredFile, ...] = ()
    limit: int = 100
    """Entries listed per reason at most."""

    @property
    def total(self) -> int:
        """Files and directories ignored, listed or not."""
        return sum(count for _, count in self.counts)

    def by_reason(self) -> dict[str, int]:
        """How many were ignored for each reason."""
        return dict(self.counts)

    def to_data(self) -> dict[str, Any]:
        """As `summary.json` writes it under `ignored`."""
        return {
            "total": self.total,
            "by_reason": self.by_reason(),
            "listed_per_reason": self.limit,
            "files": [entry.to_data() for entry in self.listed],
        }


@message
class JobProgress:
    """A snapshot of a job's progress."""

    job_id: str
    status: JobStatus
    counts: JobCounts
    expanded: bool
    """True once every input has been found, so `counts.total` is final."""
    running: int
    """Items being processed now."""
    elapsed_s: float


@message
class ItemFinished:
    """One item reached its terminal status (sent to the job's listener)."""

    job_id: str
    index: int
    """The item's position among the job's inputs, from 0."""
    path: str
    status: ItemStatus
    reason: str | None = None
    """The dotted failure class (`input.truncated`), None when done."""
    message: str | None = None
    attempts: int = 0
    result: ItemResult | None = None
    """Outputs and analysis values, when done."""
    duration_ms: float = 0.0


@message
class JobFinished:
    """A job reached its end; its export files are complete on disk."""

    job_id: str
    name: str
    status: JobStatus
    counts: JobCounts
    reason: str | None = None
    """Why the job was aborted (`output.no_space`), or None."""
    message: str | None = None
    export_files: tuple[str, ...] = ()
    started_at: float = 0.0
    """Wall-clock start, seconds since the epoch."""
    duration_s: float = 0.0
    ignored: IgnoredFiles = field(default_factory=IgnoredFiles)
    """Files under the input directories that are no item, each with its reason."""
