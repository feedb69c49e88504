"""The export protocol: the JobManager streams a job's results to the Exporter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.steps import Step
    from pixelmill.messages.jobs import ItemFinished, JobFinished

__all__ = [
    "CloseExport",
    "ExportClosed",
    "ExportFailed",
    "ExportItem",
    "ExportRecords",
    "OpenExport",
    "RecordsExported",
]


@message
class OpenExport:
    """Start a job's export files afresh; the analyses fix the CSV columns.

    An export of the job already open is dropped and started again: the
    JobManager then sends again every record the export must hold (after an
    actor restart, or a resume), so no row is lost or doubled.
    """

    job_id: str
    export_dir: Path
    analyses: tuple[Step, ...]
    output_dir: Path | None = None
    """Where the job's outputs go: pixelmill's own leftovers there are removed too."""
    charts: bool = False
    """Also draw each done item's RGB histogram as `charts/<index>-<name>.png`."""
    reply_to: ActorRef[Any] | None = None
    """Told `ExportFailed` at once if the export cannot be written."""


@message
class ExportItem:
    """Append one finished item to the job's export files."""

    item: ItemFinished


@message
class ExportRecords:
    """Append records kept from an earlier run (a resume); answered `RecordsExported`.

    Sent in bounded batches, each after the last was answered, so a resumed
    job of 50,000 finished items never floods the Exporter's inbox.
    """

    job_id: str
    records: tuple[dict[str, Any], ...]
    """Full records, as `results.jsonl` holds them."""
    reply_to: ActorRef[Any]


@message
class RecordsExported:
    """A batch of `ExportRecords` is written."""

    job_id: str


@message
class CloseExport:
    """Finish the files and move each to its final name; answered with `ExportClosed`."""

    summary: JobFinished
    reply_to: ActorRef[Any] | None = None


@message
class ExportClosed:
    """The export is complete; `reason` is set when writing it failed."""

    job_id: str
    files: tuple[str, ...] = ()
    reason: str | None = None
    message: str | None = None


@message
class ExportFailed:
    """The export cannot be written (disk full, no permission): the job must stop."""

    job_id: str
    reason: str
    message: str
