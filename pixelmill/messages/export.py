"""The export protocol: the JobManager streams a job's results to the Exporter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.steps import Step
    from pixelmill.messages.jobs import ItemFinished, JobFinished

__all__ = ["CloseExport", "ExportClosed", "ExportFailed", "ExportItem", "OpenExport"]


@message
class OpenExport:
    """Start a job's export files; the analyses fix the CSV columns."""

    job_id: str
    export_dir: Path
    analyses: tuple[Step, ...]
    resume: bool = False
    """Append to the partial files already there (after an Exporter restart)."""
    reply_to: ActorRef[Any] | None = None
    """Told `ExportFailed` at once if the export cannot be written."""


@message
class ExportItem:
    """Append one finished item to the job's export files."""

    item: ItemFinished


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
