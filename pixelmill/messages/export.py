"""The export protocol: the JobManager streams a job's results to the Exporter."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message
from pixelmill.messages.jobs import ItemStatus

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pykka import ActorRef

    from pixelmill.imaging.steps import Step
    from pixelmill.messages.jobs import ItemFinished, JobFinished

__all__ = [
    "REPORT_HTML",
    "RESULTS_CSV",
    "RESULTS_JSONL",
    "SUMMARY_JSON",
    "CloseExport",
    "ExportClosed",
    "ExportFailed",
    "ExportItem",
    "ExportRecords",
    "ItemRecord",
    "OpenExport",
    "RecordsExported",
]


RESULTS_CSV = "results.csv"
RESULTS_JSONL = "results.jsonl"
SUMMARY_JSON = "summary.json"
REPORT_HTML = "report.html"
"""The files of a job's export, in its export dir (`ExportClosed.files`)."""


@message
class ItemRecord:
    """What an item's outcome is: one line of `results.jsonl`, one row of
    `results.csv`, one entry of `summary.json`, and what the store keeps of it.

    Written once (`to_data`) and read back once (`from_data`), so a record
    replayed from the store on a resume is the very record a fresh run writes.
    """

    index: int
    path: str
    """As the OS gave it; undecodable bytes are surrogate escapes."""
    status: ItemStatus
    reason: str | None = None
    message: str | None = None
    attempts: int = 0
    duration_ms: float = 0.0
    outputs: tuple[str, ...] = ()
    width: int | None = None
    """Of the final image; None when the item was not processed."""
    height: int | None = None
    source: dict[str, Any] | None = None
    """format, width, height and mode of the input, when processed."""
    analyses: dict[str, Any] = field(default_factory=dict)
    """Analysis name -> its JSON-safe result."""

    @classmethod
    def of(cls, item: ItemFinished) -> ItemRecord:
        """The record of an item that just ended."""
        result = item.result
        return cls(
            index=item.index, path=item.path, status=item.status, reason=item.reason,
            message=item.message, attempts=item.attempts, duration_ms=item.duration_ms,
            outputs=tuple(result.outputs) if result else (),
            width=result.width if result else None,
            height=result.height if result else None,
            source=dict(result.source) if result else None,
            analyses=dict(result.analyses) if result else {},
        )

    def to_data(self) -> dict[str, Any]:
        """The record as JSON-ready data, in the order `results.jsonl` writes its keys."""
        return {
            "index": self.index,
            "path": self.path,
            "status": self.status.value,
            "reason": self.reason,
            "message": self.message,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "outputs": list(self.outputs),
            "width": self.width,
            "height": self.height,
            "source": self.source,
            "analyses": self.analyses,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ItemRecord:
        """The record `to_data` gave."""
        return cls(
            index=data["index"], path=data["path"], status=ItemStatus(data["status"]),
            reason=data["reason"], message=data["message"], attempts=data["attempts"],
            duration_ms=data["duration_ms"], outputs=tuple(data["outputs"]),
            width=data["width"], height=data["height"], source=data["source"],
            analyses=dict(data["analyses"] or {}),
        )

    def result_data(self) -> dict[str, Any] | None:
        """What the store keeps of the item's result; None when it was not processed."""
        if self.width is None:
            return None
        return {"width": self.width, "height": self.height, "source": self.source,
                "analyses": self.analyses}


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

    job_id: str
    record: ItemRecord


@message
class ExportRecords:
    """Append several records: of items that ended together, or kept from an earlier
    run (a resume), answered `RecordsExported` to `reply_to` when there is one.

    A resume sends them in bounded batches, each after the last was answered,
    so a resumed job of 50,000 finished items never floods the Exporter's inbox.
    """

    job_id: str
    records: tuple[ItemRecord, ...]
    reply_to: ActorRef[Any] | None = None


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
