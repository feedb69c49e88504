"""The Exporter through its messages: streamed rows, atomic final files, failures reported."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.actors.exporter import Exporter
from pixelmill.imaging.atomic import partial_path, pid_space, temp_path
from pixelmill.imaging.pipeline import ItemResult
from pixelmill.imaging.steps import Step
from pixelmill.messages import (
    CloseExport,
    ExportClosed,
    ExportItem,
    ExportRecords,
    ItemFinished,
    ItemRecord,
    ItemStatus,
    JobCounts,
    JobFinished,
    JobStatus,
    OpenExport,
    RecordsExported,
)
from tests._killed_writer import killed_writers_file

if TYPE_CHECKING:
    from pixelmill.actors.base import ActorContext
    from pixelmill.testing import Probe

STATS = (Step.from_data({"analysis": "channel_stats"}, kind="analysis"),)


def _done(index: int) -> ItemFinished:
    stats = {c: {"mean": 10.0 * index, "std": 0.0, "min": 1, "max": 20} for c in "rgb"}
    result = ItemResult(outputs=(f"/o/{index}.jpg",), analyses={"channel_stats": stats},
                        source={"format": "PNG", "width": 8, "height": 4, "mode": "RGB"},
                        width=8, height=4, decode_ms=1.0, total_ms=3.0)
    return ItemFinished(job_id="j", index=index, path=f"/in/{index}.png",
                        status=ItemStatus.DONE, attempts=1, result=result)


def _export(item: ItemFinished) -> ExportItem:
    return ExportItem(job_id=item.job_id, record=ItemRecord.of(item))


def _summary(counts: JobCounts) -> JobFinished:
    return JobFinished(job_id="j", name="job", status=JobStatus.COMPLETED, counts=counts,
                       started_at=1_700_000_000.0, duration_s=2.5)


def test_rows_stream_under_temporary_names_until_the_close_renames_them(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS))
    exporter.tell(_export(_done(0)))
    exporter.tell(_export(ItemFinished(
        job_id="j", index=1, path="/in/bad\nname.jpg", status=ItemStatus.SKIPPED,
        reason="input.truncated", message="cut short", attempts=1,
    )))
    exporter.ask(_export(_done(2)))  # an ask returns once the rows are written
    assert not (tmp_path / "results.csv").exists()
    partial = partial_path(tmp_path, "results.jsonl").read_text().splitlines()
    assert len(partial) == 3

    exporter.tell(CloseExport(summary=_summary(JobCounts(total=3, done=2, skipped=1)),
                              reply_to=probe.ref))
    closed = probe.expect(ExportClosed)
    assert closed.reason is None
    assert sorted(Path(f).name for f in closed.files) == [
        "report.html", "results.csv", "results.jsonl", "summary.json",
    ]
    report = (tmp_path / "report.html").read_text()
    assert "input.truncated" in report  # the skipped item's group
    assert report.count("<svg") >= 2  # histograms of the two done items
    assert not list(tmp_path.glob(".*.partial"))
    assert not list(tmp_path.glob(".*.tmp"))

    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text(encoding="utf-8"), newline="")))
    assert [row["status"] for row in rows] == ["done", "skipped", "done"]
    assert rows[1]["path"] == "/in/bad\nname.jpg"
    assert float(rows[2]["r_mean"]) == 20.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"total": 3, "done": 2, "cached": 0, "failed": 0, "skipped": 1,
                                 "cancelled": 0}
    assert summary["items"][1] == {
        "index": 1, "path": "/in/bad\nname.jpg", "status": "skipped",
        "reason": "input.truncated", "message": "cut short", "outputs": [],
    }
    assert summary["started_at"] == "2023-11-14T22:13:20Z"


def test_an_export_dir_that_cannot_be_made_is_reported_not_fatal(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=blocker / "export", analyses=()))
    exporter.tell(_export(_done(0)))
    exporter.tell(CloseExport(summary=_summary(JobCounts(total=1, done=1)), reply_to=probe.ref))
    closed = probe.expect(ExportClosed)
    assert closed.reason is not None
    assert closed.reason.startswith("output.")
    assert exporter.is_alive()


def test_an_export_opened_again_starts_afresh_so_records_sent_again_are_not_doubled(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS))
    exporter.tell(_export(_done(0)))
    exporter.tell(_export(_done(1)))
    # A JobManager taking the job up again opens it afresh and sends every record.
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS))
    exporter.tell(_export(_done(0)))
    exporter.tell(CloseExport(summary=_summary(JobCounts(total=1, done=1)), reply_to=probe.ref))
    assert probe.expect(ExportClosed).reason is None
    records = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in records] == [0]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert [row["index"] for row in rows] == ["0"]


def test_opening_an_export_removes_only_the_leftovers_of_dead_pixelmill_processes(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)
    outputs = tmp_path / "outputs" / "sub"
    outputs.mkdir(parents=True)
    litter = [
        outputs / f".pixelmill-{dead}@{pid_space()}-{'a' * 16}.tmp",
        tmp_path / f".pixelmill-{dead}@{pid_space()}-results.csv.partial",
        tmp_path / ".results.jsonl.partial",  # an earlier version's name
    ]
    kept = [
        outputs / "photo.jpg",
        tmp_path / "notes.partial",
        temp_path(outputs / "b.png"),  # a live writer's
    ]
    for path in [*litter, *kept]:
        path.write_text("x")
    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS,
                             output_dir=tmp_path / "outputs"))
    exporter.tell(CloseExport(summary=_summary(JobCounts()), reply_to=probe.ref))
    assert probe.expect(ExportClosed).reason is None
    assert [path for path in litter if path.exists()] == []
    assert all(path.exists() for path in kept)


def test_closing_an_export_removes_what_a_writer_that_died_during_the_job_left(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs"
    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS,
                             output_dir=outputs))
    exporter.tell(ExportRecords(job_id="j", records=(), reply_to=probe.ref))
    probe.expect(RecordsExported)  # the export is open: what follows came after
    outputs.mkdir()
    left = killed_writers_file(outputs / "a.png")
    live = temp_path(outputs / "b.png")
    live.write_text("x")

    exporter.tell(CloseExport(summary=_summary(JobCounts()), reply_to=probe.ref))
    assert probe.expect(ExportClosed).reason is None
    assert not left.exists()
    assert live.exists()


def test_the_report_taken_in_row_by_row_is_the_one_the_written_files_give(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    from pixelmill.report import write_report

    exporter = Exporter.start(context)
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS))
    exporter.tell(_export(_done(7)))  # taken in, then dropped by the re-open
    exporter.tell(OpenExport(job_id="j", export_dir=tmp_path, analyses=STATS))
    for index in (3, 0, 2):  # in the order items end, not by index
        exporter.tell(_export(_done(index)))
    exporter.tell(_export(ItemFinished(
        job_id="j", index=1, path="/in/<b>.jpg", status=ItemStatus.FAILED,
        reason="input.corrupt", message="bad & broken", attempts=2,
    )))
    exporter.tell(CloseExport(summary=_summary(JobCounts(total=4, done=3, failed=1)),
                              reply_to=probe.ref))
    assert probe.expect(ExportClosed).reason is None
    by_exporter = (tmp_path / "report.html").read_text(encoding="utf-8")

    from_files = write_report(tmp_path).read_text(encoding="utf-8")  # reads results.jsonl

    assert by_exporter == from_files
    assert "input.corrupt" in by_exporter
    assert "/in/7.png" not in by_exporter
