"""What `pixelmill run` shows while a job runs and when it ends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pixelmill.messages import ItemStatus

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.runtime.handle import JobHandle, JobResult

__all__ = ["Interrupts", "follow_job", "print_result"]


class Interrupts:
    """Counts Ctrl-C presses while installed; the second one leaves at once.

    The first press only sets a count that the waiting loop acts on (cancel
    the job gracefully); doing more inside a signal handler could deadlock
    on a lock the interrupted code holds. The second press writes one line
    and ends the process: partial exports stay under `.partial` names.
    """

    def __init__(self) -> None:
        self.presses = 0
        self._previous: Any = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._pressed)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _pressed(self, _signum: int, _frame: object) -> None:
        self.presses += 1
        if self.presses >= 2:
            os.write(2, b"pixelmill: stopped at once\n")
            # Workers would outlive a bare exit: end them first.
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            os._exit(130)


def follow_job(handle: JobHandle, *, quiet: bool, interrupts: Interrupts) -> JobResult:
    """Wait for the job, with a live bar on a terminal; the first Ctrl-C cancels it.

    Cancelling lets running items finish, marks the rest `cancelled`, and
    still writes the export.
    """
    show_bar = not quiet and sys.stderr.isatty()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} not done"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True,
                  disable=not show_bar) as bar:
        task = bar.add_task(handle.name, total=None, failed=0)
        cancelled = False
        while True:
            with contextlib.suppress(TimeoutError):
                return handle.wait(timeout=0.2)
            if interrupts.presses and not cancelled:
                cancelled = True
                bar.console.print("pixelmill: cancelling: running items finish; "
                                  "Ctrl-C again to stop now")
                handle.cancel()
            progress = handle.progress()
            counts = progress.counts
            bar.update(
                task,
                completed=counts.finished,
                total=counts.total if progress.expanded else None,
                failed=counts.failed + counts.skipped,
            )


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

