"""What `pixelmill run` shows while a job runs and when it ends."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import psutil

from pixelmill.messages import ItemStatus
from pixelmill.messages.export import RESULTS_JSONL

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from rich.console import Console
    from rich.progress import ProgressColumn

    from pixelmill.messages import JobProgress
    from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult

__all__ = ["Interrupts", "event_data", "follow_job", "print_result"]


class Interrupts:
    """Counts Ctrl-C presses while installed; the second one leaves at once.

    The first press only sets a count that the waiting loop acts on (cancel
    the job gracefully); doing more inside a signal handler could deadlock
    on a lock the interrupted code holds. The second press writes one line
    and ends the process: partial exports stay under `.partial` names.
    """

    def __init__(self) -> None:
        self.presses = 0
        self.acted = False
        """Set once the first press has been acted on (the job cancelled)."""
        self.job_id: str | None = None
        """The job to name in the resume hint of a hard stop."""
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
            hint = f"; resume with: pixelmill resume {self.job_id}" if self.job_id else ""
            os.write(2, f"pixelmill: stopped at once{hint}\n".encode())
            # Workers would outlive a bare exit: end them first.
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            os._exit(130)


def follow_job(
    handle: JobHandle,
    *,
    quiet: bool,
    interrupts: Interrupts,
    as_json: bool = False,
    memory_mb: Callable[[], float | None] | None = None,
) -> JobResult:
    """Wait for the job while showing its progress; the first Ctrl-C cancels it.

    On a terminal: a live bar (finished/total; done, cached, failed and
    skipped apart; rate, ETA, memory). Not
    on a terminal (CI, pipes, log files): one plain line every few seconds.
    With `as_json`: one JSON object per event on stdout. With `quiet`:
    nothing. Cancelling lets running items finish, marks the rest
    `cancelled`, and still writes the export.
    """
    if as_json:
        return _follow_json(handle, interrupts)
    # rich is imported here, once the job runs: it costs 30 ms of start-up.
    from rich.console import Console
    from rich.progress import Progress

    show_bar = not quiet and sys.stderr.isatty()
    last_line = time.monotonic()
    with Progress(*_bar_columns(), console=Console(stderr=True), transient=True,
                  disable=not show_bar) as bar:
        task = bar.add_task(handle.name, total=None, outcomes="", rate="", memory="")
        while True:
            with contextlib.suppress(TimeoutError):
                return handle.wait(timeout=0.2)
            _cancel_on_interrupt(handle, interrupts, bar.console)
            progress = handle.progress()
            rss = memory_mb() if memory_mb is not None else None
            bar.update(task, **_bar_fields(progress, rss))
            if not quiet and not show_bar and time.monotonic() - last_line >= _PLAIN_EVERY_S:
                last_line = time.monotonic()
                print(_plain_line(progress, rss), file=sys.stderr, flush=True)


_PLAIN_EVERY_S = 5.0


def _bar_columns() -> tuple[ProgressColumn, ...]:
    """The live bar: name, bar, finished/total, each outcome apart, rate, ETA, memory."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[outcomes]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[memory]}"),
    )


def _bar_fields(progress: JobProgress, rss: float | None) -> dict[str, Any]:
    """What `Progress.update` takes for the live bar, from a progress snapshot."""
    counts = progress.counts
    outcomes = [f"[green]{counts.done} done[/]", f"{counts.cached} cached",
                f"[red]{counts.failed} failed[/]", f"[yellow]{counts.skipped} skipped[/]"]
    if counts.cancelled:
        outcomes.append(f"{counts.cancelled} cancelled")
    return {
        "completed": counts.finished,
        "total": counts.total if progress.expanded else None,
        "outcomes": " ".join(outcomes),
        "rate": f"{_rate(progress):.1f} items/s",
        "memory": f"{rss:.0f} MiB" if rss else "",
    }


def _rate(progress: JobProgress) -> float:
    """Items finished per second since the job (this run of it) started."""
    return progress.counts.finished / progress.elapsed_s if progress.elapsed_s > 0 else 0.0


def _plain_line(progress: JobProgress, rss: float | None) -> str:
    counts = progress.counts
    rate = _rate(progress)
    total = str(counts.total) if progress.expanded else f"{counts.total}+"
    eta = ""
    if progress.expanded and rate > 0:
        eta = f", ETA {(counts.total - counts.finished) / rate:.0f} s"
    memory = f", {rss:.0f} MiB" if rss else ""
    return (f"pixelmill: {progress.job_id}: {counts.finished}/{total} finished "
            f"({counts.done} done, {counts.cached} cached, {counts.failed} failed, "
            f"{counts.skipped} skipped), {rate:.1f} items/s{eta}{memory}")


def _cancel_on_interrupt(handle: JobHandle, interrupts: Interrupts, console: Console) -> None:
    if interrupts.presses and not interrupts.acted:
        interrupts.acted = True
        console.print("pixelmill: cancelling: running items finish; Ctrl-C again to stop now")
        handle.cancel()


def _follow_json(handle: JobHandle, interrupts: Interrupts) -> JobResult:
    from rich.console import Console

    console = Console(stderr=True)
    while not handle.done() or handle.has_events():
        with contextlib.suppress(TimeoutError):
            for event in handle.events(timeout=0.2):
                print(json.dumps(event_data(event), default=str), flush=True)
                _cancel_on_interrupt(handle, interrupts, console)
        _cancel_on_interrupt(handle, interrupts, console)
    return handle.wait()


def event_data(event: JobEvent) -> dict[str, Any]:
    """An event as a JSON-ready dict, its kind under `type` (`ItemFinished`, ...)."""
    data = dataclasses.asdict(event)
    return {"type": type(event).__name__, **data}


def print_result(result: JobResult, *, out: Path, log_file: Path) -> None:
    """The final table: counts, failures grouped by reason, files the walk ignored by
    reason, where everything is."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    counts = {**result.counts.as_dict(), "ignored": result.ignored.total}
    table = Table(title=f"{result.name}: {result.status.value} in {result.duration_s:.1f} s")
    for column in counts:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in counts.values()))
    console.print(table)
    if result.reason:
        console.print(f"[red]aborted[/red]: {result.reason}: {result.message}", markup=True)
    reasons = _reasons(result)
    for reason, number in reasons.most_common():
        console.print(f"  {number} x {reason}")
    for reason, number in sorted(result.ignored.by_reason().items(), key=lambda r: -r[1]):
        console.print(f"  {number} x ignored {reason}")
    if result.ignored.total:
        console.print("  (ignored files are listed in summary.json and the report)")
    console.print(f"outputs: {out}")
    if result.export_files:
        names = ", ".join(path.name for path in result.export_files)
        console.print(f"export:  {result.export_files[0].parent} ({names})")
    if result.report_path:
        console.print(f"report:  {result.report_path}")
    console.print(f"log:     {log_file}")


def _reasons(result: JobResult) -> Counter[str]:
    """Count items neither done nor cached by reason, read back from the job's results."""

    reasons: Counter[str] = Counter()
    jsonl = next((p for p in result.export_files if p.name == RESULTS_JSONL), None)
    if jsonl is None:
        return reasons
    with jsonl.open(encoding="utf-8") as records:
        for line in records:
            record = json.loads(line)
            if not ItemStatus(record["status"]).succeeded:
                reasons[f"{record['status']} {record['reason']}"] += 1
    return reasons

