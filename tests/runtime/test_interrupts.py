"""Ctrl-C on a real `pixelmill run`: once drains gracefully, twice stops at once; resume finishes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psutil

from pixelmill.store import JobStore
from pixelmill.testing import is_gone, wait_until
from tests.runtime._cli import (
    assert_complete,
    finish,
    job_id_of,
    kill_group,
    outputs_written,
    slow_job,
    spawn,
)

COUNT = 32


def test_one_ctrl_c_lets_running_items_finish_and_writes_the_export(tmp_path: Path) -> None:
    job = slow_job(tmp_path, COUNT)
    out, state = tmp_path / "out", tmp_path / "state"
    process = spawn("run", job, "--state", state, "--workers", "2")
    wait_until(lambda: outputs_written(out) >= 4, 60, "four outputs")
    kill_group(process, signal.SIGINT)  # a terminal signals the whole foreground group
    code, _, err = finish(process)

    assert code == 130, err
    job_id = job_id_of(state)
    assert f"pixelmill resume {job_id}" in err
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["counts"]
    assert summary["status"] == "cancelled"
    assert counts["done"] >= 4 and counts["cancelled"] > 0
    assert counts["done"] + counts["cancelled"] == counts["total"] == COUNT
    # What was running finished: every done item has its output.
    for item in summary["items"]:
        if item["status"] == "done":
            assert Path(item["outputs"][0]).exists()

    code, _, err = finish(spawn("resume", job_id, "--state", state, "--quiet"))
    assert code == 0, err
    assert_complete(tmp_path, state)


def test_two_ctrl_c_stop_at_once_and_a_resume_completes_the_export(tmp_path: Path) -> None:
    job = slow_job(tmp_path, COUNT)
    out, state = tmp_path / "out", tmp_path / "state"
    process = spawn("run", job, "--state", state, "--workers", "2")
    wait_until(lambda: outputs_written(out) >= 4, 60, "four outputs")
    group = [process.pid, *(c.pid for c in psutil.Process(process.pid).children(recursive=True))]
    kill_group(process, signal.SIGINT)
    # Signals do not queue: the second press must come after the first was seen.
    wait_until(lambda: _logged(out, "job.stopping"), 30, "the first Ctrl-C acted on")
    kill_group(process, signal.SIGINT)
    code, _, err = finish(process)

    assert code == 130, err
    job_id = job_id_of(state)
    assert f"stopped at once; resume with: pixelmill resume {job_id}" in err
    assert not (out / "summary.json").exists()
    wait_until(lambda: all(is_gone(pid) for pid in group), 10,
               "every process of the run to end")
    with JobStore.in_dir(state, readonly=True) as store:
        assert store.job(job_id).status == "interrupted"  # type: ignore[union-attr]

    code, _, err = finish(spawn("resume", job_id, "--state", state, "--quiet"))
    assert code == 0, err
    assert_complete(tmp_path, state)


def _logged(out: Path, event: str) -> bool:
    return any(f'"event": "{event}"' in log.read_text() for log in (out / "logs").glob("*.jsonl"))
