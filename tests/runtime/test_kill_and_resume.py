"""A real `pixelmill run` killed with SIGKILL anywhere, then resumed: nothing lost or doubled.

Each chain kills the first run at a seeded random moment, kills the resume
that follows at another, kills a second resume while it closes the export,
and lets a last resume finish: twelve kills in all over four seeds.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

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
SLOW_CLOSE = ("tests.runtime._slow_op", "tests.runtime._slow_close")


def _run_and_kill_after(process_args: list[str | Path], delay_s: float, out: Path,
                        plugins: tuple[str, ...] = ("tests.runtime._slow_op",)) -> bool:
    """Start `pixelmill ...`, kill it `delay_s` after its first output; True if it was
    still running (a real kill), False if it had already ended."""
    before = outputs_written(out)
    process = spawn(*process_args, plugins=plugins)
    wait_until(lambda: outputs_written(out) > before or process.poll() is not None, 60,
             "the first output")
    try:
        process.wait(timeout=delay_s)
    except Exception:  # noqa: BLE001 - still running: that is the point
        kill_group(process)
        finish(process)
        return True
    finish(process)
    return False


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_anywhere_then_resume_loses_and_doubles_nothing(
    tmp_path: Path, seed: int
) -> None:
    draws = random.Random(seed)
    job = slow_job(tmp_path, COUNT)
    out, state = tmp_path / "out", tmp_path / "state"
    common = ["--state", state, "--workers", "2", "--quiet"]

    # 1. The first run, killed somewhere in its work.
    assert _run_and_kill_after(["run", job, *common], draws.uniform(0.0, 0.3), out)
    job_id = job_id_of(state)
    # 2. A resume, killed somewhere in its work.
    assert _run_and_kill_after(["resume", job_id, *common], draws.uniform(0.0, 0.15), out)
    # 3. A resume killed while it closes the export: every item has its end,
    #    the CSV and JSON lines are complete and not yet renamed.
    closing = tmp_path / "closing"
    process = spawn("resume", job_id, *common, plugins=SLOW_CLOSE)
    wait_until(lambda: closing.exists() or process.poll() is not None, 90, "the export's close")
    assert process.poll() is None, finish(process)
    assert not (out / "summary.json").exists()
    kill_group(process)
    finish(process)
    # 4. The last resume finishes the job.
    code, _, err = finish(spawn("resume", job_id, *common))
    assert code == 0, err
    assert_complete(tmp_path, state)


def test_workers_end_with_a_host_killed_alone(tmp_path: Path) -> None:
    import os
    import signal

    import psutil

    from pixelmill.testing import wait_until

    # Only the host is killed (the OOM killer picks one process): its fork
    # server and workers must not live on without it.
    job = slow_job(tmp_path, COUNT)
    process = spawn("run", job, "--state", tmp_path / "state", "--workers", "2", "--quiet")
    wait_until(lambda: outputs_written(tmp_path / "out") >= 2, 60, "two outputs")
    descendants = psutil.Process(process.pid).children(recursive=True)
    assert len(descendants) >= 3  # the fork server and two workers at least
    os.kill(process.pid, signal.SIGKILL)
    finish(process)

    def all_gone() -> bool:
        return all(is_gone(p) for p in descendants)

    wait_until(all_gone, 30, "the host's workers and fork server ending")
