"""What the pure `Job` is told (events) and what it answers (effects).

The JobManager turns messages into events, calls `Job.handle`, and carries
out the effects: it sends, schedules, reads inputs (a directory walk and
stats, never a file's bytes: headers are probed in workers) and writes the
store. The `Job` itself does none of these, so it can be driven and checked
without an actor, a thread or a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelmill.messages import JobStatus

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.actors._inputs import Input
    from pixelmill.messages import IgnoredFiles, JobFinished
    from pixelmill.store import ItemRow, RunRow

__all__ = [
    "LISTENER",
    "CacheAnswer",
    "CacheLooked",
    "Effect",
    "InputsRead",
    "Later",
    "Log",
    "LookupCache",
    "PeerRestarted",
    "ReadInputs",
    "RecordCache",
    "RecordFinish",
    "RecordItem",
    "RecordRun",
    "Replay",
    "ReplayDone",
    "RetryDue",
    "Send",
    "StopJob",
]

LISTENER = "listener"
"""The address of `Send`s for the job's listener (the host's handle)."""


# -- events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputsRead:
    """The inputs a `ReadInputs` asked for; `end` once there are no more."""

    inputs: tuple[Input, ...]
    end: bool
    ignored: IgnoredFiles | None = None
    """With `end`: what the walk of the input directories left, each with its reason."""


@dataclass(frozen=True, slots=True)
class CacheAnswer:
    """One lookup's answer: a hit, with the result and the outputs now in place,
    or a miss (`result` None)."""

    index: int
    result: dict[str, Any] | None = None
    """`{"width", "height", "source", "analyses"}` of the earlier work."""
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheLooked:
    """The answers to a round of `LookupCache`s."""

    answers: tuple[CacheAnswer, ...]


@dataclass(frozen=True, slots=True)
class RetryDue:
    """A retry's backoff is over (sent by the Timer to the JobManager itself)."""

    job_id: str
    index: int
    attempt: int


@dataclass(frozen=True, slots=True)
class ReplayDone:
    """Every record of the latest `Replay` has reached the Exporter."""


@dataclass(frozen=True, slots=True)
class PeerRestarted:
    """A peer of the JobManager was replaced: what it held must be given again."""

    role: str


@dataclass(frozen=True, slots=True)
class StopJob:
    """Stop the job from outside its own flow: the runtime broke, or the store failed."""

    status: JobStatus
    reason: str
    message: str


# -- effects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Tell `message` to the peer playing role `to`, or to the job's `LISTENER`."""

    to: str
    message: Any


@dataclass(frozen=True, slots=True)
class Later:
    """Tell `message` to the JobManager itself in `after_s` seconds."""

    after_s: float
    message: Any


@dataclass(frozen=True, slots=True)
class ReadInputs:
    """Read up to `count` more inputs (None: all that are left); answer `InputsRead`."""

    job_id: str
    count: int | None


@dataclass(frozen=True, slots=True)
class LookupCache:
    """Find earlier work on these bytes with this job's fingerprint; answer with a
    `CacheAnswer`. A hit needs its outputs: kept where they are if they are this
    job's and intact, else copied from intact earlier ones to `outputs`."""

    job_id: str
    index: int
    content_hash: bytes
    outputs: tuple[Path, ...]
    """Where this job's pipeline writes the item's outputs."""


@dataclass(frozen=True, slots=True)
class RecordCache:
    """Keep the work done on an item's bytes for later runs (its outputs as they are now)."""

    content_hash: bytes
    fingerprint: str
    result: dict[str, Any]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Replay:
    """Send the Exporter the stored records of these final items (once the store has
    them all); answer `ReplayDone`. A later `Replay` of the job replaces this one."""

    job_id: str
    indices: frozenset[int]


@dataclass(frozen=True, slots=True)
class RecordItem:
    """Write an item's state to the store (a later one for it replaces this one)."""

    row: ItemRow


@dataclass(frozen=True, slots=True)
class RecordRun:
    """Write one run of an item to the store, at its start and again at its end."""

    row: RunRow


@dataclass(frozen=True, slots=True)
class RecordFinish:
    """Write how the job ended to the store."""

    summary: JobFinished


@dataclass(frozen=True, slots=True)
class Log:
    """A log line for the JobManager to write (`level` is a structlog method name)."""

    level: str
    event: str
    fields: dict[str, Any]


Effect = (
    Send | Later | ReadInputs | LookupCache | Replay | RecordItem | RecordRun
    | RecordFinish | RecordCache | Log
)
"""Everything `Job.handle` may ask of the JobManager."""
