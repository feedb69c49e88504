"""Which jobs still run: a dead job is never shown running, and only one process runs a job."""

from __future__ import annotations

import json
from pathlib import Path

from pixelmill.store import JobStore
from pixelmill.testing import wait_until
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


def _killed_run(tmp_path: Path) -> tuple[Path, str]:
    job = slow_job(tmp_path, COUNT)
    state = tmp_path / "state"
    process = spawn("run", job, "--state", state, "--workers", "2", "--quiet")
    wait_until(lambda: outputs_written(tmp_path / "out") >= 2, 60, "two outputs")
    kill_group(process)
    finish(process)
    return state, job_id_of(state)


def _jobs(state: Path) -> list[dict[str, object]]:
    code, out, err = finish(spawn("jobs", "--state", state, "--json", plugins=()))
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_a_killed_job_shows_interrupted_and_can_be_pruned(tmp_path: Path) -> None:
    state, job_id = _killed_run(tmp_path)

    (row,) = _jobs(state)
    assert (row["job_id"], row["status"]) == (job_id, "interrupted")
    code, out, err = finish(spawn("jobs", "prune", "--older-than", "0", "--state", state,
                                  plugins=()))
    assert code == 0, err
    assert "pruned 1" in out
    assert _jobs(state) == []


def test_resuming_a_job_a_live_process_runs_exits_2_naming_the_process(tmp_path: Path) -> None:
    job = slow_job(tmp_path, COUNT, pause_ms=200)
    state = tmp_path / "state"
    running = spawn("run", job, "--state", state, "--workers", "1", "--quiet")
    try:
        wait_until(lambda: outputs_written(tmp_path / "out") >= 1, 60, "the first output")
        job_id = job_id_of(state)
        assert [row["status"] for row in _jobs(state)] == ["running"]

        code, out, err = finish(spawn("resume", job_id, "--state", state, "--quiet"))
    finally:
        kill_group(running)
        finish(running)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert f"job {job_id} is already running in process {running.pid} on " in line


def test_of_two_resumes_at_once_exactly_one_runs_the_job(tmp_path: Path) -> None:
    state, job_id = _killed_run(tmp_path)
    with JobStore.in_dir(state, readonly=True) as store:
        (before,) = store.jobs()

    resumes = [spawn("resume", job_id, "--state", state, "--quiet") for _ in range(2)]
    results = sorted(finish(process) for process in resumes)

    (ok, refused) = results
    assert ok[0] == 0, ok[2]
    assert refused[0] == 2, refused[2]
    # The other one found it running in the first, or, if it came after, finished.
    assert "already running in process" in refused[2] or "completed" in refused[2]
    with JobStore.in_dir(state, readonly=True) as store:
        (after,) = store.jobs()
    assert after.runs == before.runs + 1, "the job was taken over exactly once"
    assert_complete(tmp_path, state)
