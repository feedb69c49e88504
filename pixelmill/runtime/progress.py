"""What `pixelmill run` shows while a job runs and when it ends."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pixelmill.messages import ItemStatus, JobProgress

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.runtime.handle import JobHandle, JobResult

__all__ = ["follow_job", "print_result"]


def follow_job(handle: JobHandle, *, quiet: bool) -> JobResult:
    """Wait for the job, with a live bar on a terminal; Ctrl-C cancels, twice stops.

    The first Ctrl-C cancels the job: running items finish, the rest end
    `cancelled`, and the export is still written. A second one leaves at
    once (the Runtime's exit then stops the workers).
    """
    try:
        if quiet or not sys.stderr.isatty():
            return handle.wait()
        return _with_bar(handle)
    except KeyboardInterrupt:
        print("pixelmill: cancelling: running items finish; Ctrl-C again to stop now",
              file=sys.stderr)
        handle.cancel()
        return handle.wait()


def _with_bar(handle: JobHandle) -> JobResult:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} not done"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(handle.name, total=None, failed=0)
        for event in handle.events():
            if isinstance(event, JobProgress):
                counts = event.counts
                bar.update(
                    task,
                    completed=counts.finished,
                    total=counts.total if event.expanded else None,
                    failed=counts.failed + counts.skipped,
                )
    return handle.wait()


def print_result(result: JobResult, *, out: Path, log_file: Path) -> None:
    """The final table: counts, failures grouped by reason, where everything is."""
    console = Console()
    counts = result.counts
    table = Table(title=f"{result.name}: {result.status.value} in {result.duration_s:.1f} s")
    for column in ("total", "done", "failed", "skipped", "cancelled"):
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in counts.as_dict().values()))
    console.print(table)
    if result.reason:
        console.print(f"[red]aborted[/red]: {result.reason}: {result.message}", markup=True)
    reasons = _reasons(result)
    for reason, number in reasons.most_common():
        console.print(f"  {number} x {reason}")
    console.print(f"outputs: {out}")
    if result.summary_path:
        console.print(f"export:  {result.summary_path.parent} (summary.json, results.csv, "
                      "results.jsonl)")
    console.print(f"log:     {log_file}")


def _reasons(result: JobResult) -> Counter[str]:
    """Count not-done items by reason, read back from the job's results."""

    reasons: Counter[str] = Counter()
    jsonl = next((p for p in result.export_files if p.name == "results.jsonl"), None)
    if jsonl is None:
        return reasons
    with jsonl.open(encoding="utf-8") as records:
        for line in records:
            record = json.loads(line)
            if record["status"] != ItemStatus.DONE.value:
                reasons[f"{record['status']} {record['reason']}"] += 1
    return reasons

