"""What `pixelmill run` shows while a job runs: the live bar and the plain lines."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from pixelmill.cli.progress import _bar_columns, _bar_fields, _plain_line
from pixelmill.messages import JobCounts, JobProgress, JobStatus

PROGRESS = JobProgress(
    job_id="abc123", status=JobStatus.RUNNING, expanded=True, running=2, elapsed_s=4.0,
    counts=JobCounts(total=40, done=12, cached=3, failed=2, skipped=1),
)


def shown(progress: JobProgress) -> str:
    """The live bar as a terminal 160 columns wide shows it."""
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True, color_system=None)
    bar = Progress(*_bar_columns(), console=console, auto_refresh=False)
    task = bar.add_task("thumbs", total=None, outcomes="", rate="", memory="")
    bar.update(task, **_bar_fields(progress, 312.4))
    console.print(bar.get_renderable())
    return out.getvalue()


def test_the_live_bar_shows_the_rate_and_each_outcome_apart() -> None:
    line = shown(PROGRESS)

    assert "18/40" in line
    assert "12 done 3 cached 2 failed 1 skipped" in line
    assert "cancelled" not in line
    assert "4.5 items/s" in line  # 18 finished in 4 s
    assert "312 MiB" in line


def test_the_live_bar_counts_cancelled_items_once_there_are_some() -> None:
    cancelling = JobProgress(
        job_id="abc123", status=JobStatus.RUNNING, expanded=False, running=0, elapsed_s=2.0,
        counts=JobCounts(total=9, done=1, cancelled=8),
    )

    line = shown(cancelling)

    assert "1 done 0 cached 0 failed 0 skipped 8 cancelled" in line
    assert "9/?" in line  # the total is not final until every input is found


def test_the_plain_line_off_a_terminal_says_the_same() -> None:
    assert _plain_line(PROGRESS, None) == (
        "pixelmill: abc123: 18/40 finished (12 done, 3 cached, 2 failed, 1 skipped), "
        "4.5 items/s, ETA 5 s"
    )
