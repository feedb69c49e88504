"""The Exporter: a job's export files, streamed as results arrive, renamed when complete."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.records import csv_columns, csv_row, summary_item
from pixelmill.errors import InternalError, PixelmillError, reason_of
from pixelmill.imaging.atomic import partial_path, remove_litter
from pixelmill.imaging.save import check_free_space, translate_write_error
from pixelmill.messages import (
    CloseExport,
    ExportClosed,
    ExportFailed,
    ExportItem,
    ExportRecords,
    ItemRecord,
    JobFinished,
    OpenExport,
    RecordsExported,
)
from pixelmill.messages.export import REPORT_HTML, RESULTS_CSV, RESULTS_JSONL, SUMMARY_JSON

if TYPE_CHECKING:
    from pixelmill.imaging.steps import Step
    from pixelmill.report._digest import JobDigest

__all__ = ["Exporter"]
_SPACE_CHECK_EVERY_S = 0.25
"""Free space is checked before a row at most this often (a statvfs per row is slow)."""
_SUMMARY_ITEMS = SUMMARY_JSON + ".items"
"""The items of `summary.json`, written as rows come (a partial file, as the rows')."""


@dataclass
class _Export:
    """The open files of one job's export."""

    directory: Path
    analyses: tuple[Step, ...]
    csv_file: IO[str]
    csv_writer: Any
    jsonl_file: IO[str]
    items_file: IO[str]
    """`summary.json`'s items so far, copied into it at the close."""
    owner: Any
    """Told `ExportFailed` when writing fails; the JobManager."""
    charts: bool = False
    unflushed: bool = False
    rows: int = 0
    space_checked: float = -math.inf
    """When the disk's free space was last checked (monotonic seconds)."""
    digest: JobDigest | None = None
    """What the report shows of the rows written so far."""
    head: dict[str, Any] | None = None
    """`summary.json` without its items, once written (the report shows it)."""

    def temp(self, name: str) -> Path:
        return partial_path(self.directory, name)

    def close(self) -> None:
        self.csv_file.close()
        self.jsonl_file.close()
        self.items_file.close()

    def flush(self) -> None:
        self.csv_file.flush()
        self.jsonl_file.flush()
        self.items_file.flush()
        self.unflushed = False


class Exporter(Actor):
    """Writes `results.csv`, `results.jsonl`, `summary.json` and `report.html` per job.

    An export is opened afresh (`OpenExport`): pixelmill's own leftovers in
    its directories (temporary files of dead processes, partial exports) are
    removed first, and an export of the job already open is dropped, since the
    JobManager then sends every record again. They are removed again at the
    close, when every item has ended: a worker killed while it saved (a crash,
    a replaced pool) leaves its temporary file behind during the job.

    Rows are appended as items finish, under temporary names, and flushed
    whenever the Exporter has caught up with its inbox (so under load one
    flush covers many rows, and an idle export is always on disk);
    on `CloseExport` each file is moved to its final name by an atomic
    rename, so no reader ever sees a half-written export. Memory does not
    grow with the number of items: `summary.json` is streamed from the JSON
    lines file at the end. A write that fails answers `ExportClosed` with the
    failure's reason; the Exporter itself lives on.
    """

    actor_role = Role.EXPORTER

    def __init__(self, context: ActorContext, *, min_free_mb: int = 100) -> None:
        super().__init__(context)
        self._min_free_mb = min_free_mb
        self._exports: dict[str, _Export] = {}
        self._failed: dict[str, PixelmillError] = {}
        self._swept: dict[str, tuple[Path, ...]] = {}
        """The directories of each open job that hold its writers' files."""

    def on_stop(self) -> None:
        """Closes what is still open; partial files stay partial, never renamed."""
        self._close_all()

    def on_failure(self, *exc_info: Any) -> None:
        # pykka skips on_stop after a crash; the files must still be closed.
        self._close_all()
        super().on_failure(*exc_info)

    def _close_all(self) -> None:
        for export in self._exports.values():
            export.close()

    def handle(self, message: Any) -> Any:
        answer = self._handle(message)
        if self.actor_inbox.empty():
            for job_id, export in list(self._exports.items()):
                if export.unflushed:
                    self._guarded(job_id, export.flush)
        return answer

    def _handle(self, message: Any) -> Any:
        match message:
            case OpenExport():
                self._guarded(message.job_id, lambda: self._open(message), message.reply_to)
                return None
            case ExportItem(job_id=job_id, record=record):
                if job_id in self._exports:
                    self._guarded(job_id, lambda: self._append(job_id, record))
                return None
            case ExportRecords(job_id=job_id, records=records, reply_to=reply_to):
                if job_id in self._exports:
                    for record in records:
                        self._guarded(job_id, functools.partial(self._append, job_id, record))
                return self.reply(reply_to, RecordsExported(job_id=job_id))
            case CloseExport(summary=summary, reply_to=reply_to):
                return self.reply(reply_to, self._close(summary))
            case _:
                return super().handle(message)

    def _guarded(self, job_id: str, step: Callable[[], None], owner: Any = None) -> None:
        # An export that cannot be written fails its job, not the Exporter.
        if job_id in self._failed:
            return
        try:
            step()
        except OSError as exc:
            path = Path(getattr(exc, "filename", "") or ".")
            self._fail(job_id, translate_write_error(exc, path), owner)
        except PixelmillError as exc:
            self._fail(job_id, exc, owner)
        except Exception as exc:  # noqa: BLE001 - a bug, a host analysis's say, fails the job
            bug = InternalError(f"export of job {job_id}: {type(exc).__name__}: {exc}")
            self._fail(job_id, bug, owner)

    def _fail(self, job_id: str, error: PixelmillError, owner: Any = None) -> None:
        """Fail the job's export and tell its owner (the export's, or `owner` while
        it was being opened)."""
        self.actor_log.error("export.failed", job_id=job_id, reason=error.reason, error=str(error))
        self._failed[job_id] = error
        export = self._exports.pop(job_id, None)
        if export is not None:
            export.close()
            owner = export.owner
        if owner is not None:
            self.reply(owner, ExportFailed(job_id=job_id, reason=error.reason, message=str(error)))

    def _open(self, message: OpenExport) -> None:
        from pixelmill.report import new_digest  # at the first export, not at start-up

        stale = self._exports.pop(message.job_id, None)
        if stale is not None:
            stale.close()
        self._failed.pop(message.job_id, None)
        columns = csv_columns(message.analyses)
        directory = message.export_dir
        directory.mkdir(parents=True, exist_ok=True)
        roots = tuple(dict.fromkeys(d for d in (directory, message.output_dir) if d is not None))
        self._swept[message.job_id] = roots
        self._remove_litter(message.job_id, roots)
        with contextlib.ExitStack() as opened:  # closed again if any step fails
            csv_file = opened.enter_context(
                partial_path(directory, RESULTS_CSV).open(
                    "w", newline="", encoding="utf-8", errors="surrogateescape"
                )
            )
            writer = csv.DictWriter(csv_file, fieldnames=columns)
            writer.writeheader()
            jsonl_file = opened.enter_context(
                partial_path(directory, RESULTS_JSONL).open("w", encoding="utf-8")
            )
            items_file = opened.enter_context(
                partial_path(directory, _SUMMARY_ITEMS).open("w", encoding="utf-8")
            )
            if message.charts:
                (directory / "charts").mkdir(exist_ok=True)
            self._exports[message.job_id] = _Export(
                directory=directory,
                analyses=message.analyses,
                csv_file=csv_file,
                csv_writer=writer,
                jsonl_file=jsonl_file,
                items_file=items_file,
                owner=message.reply_to,
                charts=message.charts,
                digest=new_digest(),
            )
            opened.pop_all()  # the export owns its files now

    def _remove_litter(self, job_id: str, roots: tuple[Path, ...]) -> None:
        for root in roots:
            removed = remove_litter(root)
            if removed:
                self.actor_log.info("litter.removed", job_id=job_id, files=len(removed))

    def _append(self, job_id: str, record: ItemRecord) -> None:
        export = self._exports[job_id]
        now = time.monotonic()
        if now - export.space_checked >= _SPACE_CHECK_EVERY_S:
            check_free_space(export.directory, self._min_free_mb)
            export.space_checked = now
        export.csv_writer.writerow(csv_row(record, export.analyses))
        data = record.to_data()
        export.jsonl_file.write(json.dumps(data) + "\n")
        export.items_file.write(
            ("," if export.rows else "") + "\n    " + json.dumps(summary_item(record))
        )
        export.rows += 1
        if export.digest is not None:
            export.digest.add(data)
        histogram = record.analyses.get("rgb_histogram")
        if export.charts and histogram is not None:
            name = f"{record.index:06d}-{Path(record.path).stem[:80]}.png"
            from pixelmill.report import write_histogram_chart  # only with charts

            write_histogram_chart(histogram, export.directory / "charts" / _safe(name))
        export.unflushed = True

    def _close(self, summary: JobFinished) -> ExportClosed:
        job_id = summary.job_id
        export = self._exports.get(job_id)
        if export is not None:
            self._guarded(job_id, lambda: self._finish(export, summary))
        error = self._failed.pop(job_id, None)
        self._exports.pop(job_id, None)
        # Every item has ended, so every writer of this job is gone or done.
        self._remove_litter(job_id, self._swept.pop(job_id, ()))
        if error is not None:
            return ExportClosed(job_id=job_id, reason=reason_of(error), message=str(error))
        if export is None:
            return ExportClosed(
                job_id=job_id, reason="export.unknown", message=f"no export open for {job_id}"
            )
        names = [RESULTS_CSV, RESULTS_JSONL, SUMMARY_JSON]
        try:
            from pixelmill.report import write_report

            write_report(export.directory, export.head, digest=export.digest)
            names.append(REPORT_HTML)
        except (OSError, ValueError) as exc:
            # The results are complete on disk; a report that cannot be drawn
            # is worth an error line, not a failed job.
            self.actor_log.error("report.failed", job_id=job_id, error=f"{exc}")
        files = tuple(str(export.directory / name) for name in names)
        self.actor_log.info("export.written", job_id=job_id, files=list(files))
        return ExportClosed(job_id=job_id, files=files)

    def _finish(self, export: _Export, summary: JobFinished) -> None:
        for handle in (export.csv_file, export.jsonl_file):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        export.items_file.close()
        export.head = _write_summary(export, summary)
        export.temp(_SUMMARY_ITEMS).unlink()
        for name in (RESULTS_CSV, RESULTS_JSONL):
            os.replace(export.temp(name), export.directory / name)


def _write_summary(export: _Export, summary: JobFinished) -> dict[str, Any]:
    """Write `summary.json`; return its head (all but the items)."""
    head = {
        "job_id": summary.job_id,
        "name": summary.name,
        "status": summary.status.value,
        "reason": summary.reason,
        "message": summary.message,
        "started_at": _iso(summary.started_at),
        "finished_at": _iso(summary.started_at + summary.duration_s),
        "duration_s": round(summary.duration_s, 3),
        "counts": summary.counts.as_dict(),
        "ignored": summary.ignored.to_data(),
    }
    temp = export.temp(SUMMARY_JSON)
    try:
        with temp.open("w", encoding="utf-8") as out, export.temp(_SUMMARY_ITEMS).open(
            encoding="utf-8"
        ) as items:
            out.write(json.dumps(head, indent=2)[:-2] + ',\n  "items": [')
            shutil.copyfileobj(items, out)
            out.write("\n  ]\n}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, export.directory / SUMMARY_JSON)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return head


def _safe(name: str) -> str:
    # Chart names come from input names: keep them one plain path component.
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
