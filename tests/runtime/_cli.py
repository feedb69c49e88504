"""Real `pixelmill` processes for the kill, interrupt and drill tests, and the checks of
what they leave: every input exactly once everywhere, nothing half-written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image

from pixelmill.store import JobStore
from pixelmill.testing import write_sample_set

REPO = Path(__file__).resolve().parents[2]
PAUSE_MS = 40
"""Each item's pause in the `slow` job: long enough to interrupt it anywhere."""


def slow_job(tmp_path: Path, count: int, *, pause_ms: int = PAUSE_MS) -> Path:
    """A job file over `count` images, each held `pause_ms` by the test_pause op.

    Its cache is off (a resume reads the job's stored spec, so it is off there too):
    the store commits cache entries and item states in separate batches, so a run
    killed between the two leaves an item unfinished whose work the cache already
    has, and a resume would end it `cached` instead of working it. What these
    tests check (every item done exactly once) is not the cache's business.
    """
    write_sample_set(tmp_path / "in", count, seed=8)
    job = tmp_path / "job.toml"
    job.write_text(
        "[job]\n"
        'name = "slow"\n'
        'inputs = ["in"]\n'
        'export_dir = "out"\n'
        'analyses = ["channel_stats"]\n'
        "cache = false\n"
        "[[pipeline]]\n"
        f'op = "test_pause"\nms = {pause_ms}\n'
        "[[pipeline]]\n"
        'op = "thumbnail"\nsize = 24\n'
        "[[pipeline]]\n"
        'op = "save"\nformat = "png"\n'
    )
    return job


def spawn(*args: str | Path, plugins: tuple[str, ...] = ("tests.runtime._slow_op",),
          ) -> subprocess.Popen[str]:
    """`pixelmill ARGS` in a session of its own (so a signal reaches its workers too)."""
    command = [sys.executable, "-m", "pixelmill", *map(str, args)]
    for plugin in plugins:
        command += ["--plugin", plugin]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def kill_group(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Signal the process and its workers, as a terminal or a supervisor would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def outputs_written(out: Path) -> int:
    return sum(1 for _ in out.glob("*.png")) if out.exists() else 0


def job_id_of(state: Path) -> str:
    with JobStore.in_dir(state, readonly=True) as store:
        (job,) = store.jobs()
    return job.job_id


def assert_complete(tmp_path: Path, state: Path) -> None:
    """Every input exactly once in the CSV, the JSON lines, the summary and the store;
    each done, its output decodes; no temporary file left; and no item that had
    finished ran again in a later run of the job."""
    out = tmp_path / "out"
    inputs = sorted(str(p) for p in (tmp_path / "in").iterdir())
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    summary = json.loads((out / "summary.json").read_text())
    for listed in ([r["path"] for r in records], [r["path"] for r in rows],
                   [i["path"] for i in summary["items"]]):
        assert sorted(listed) == inputs
    assert {r["status"] for r in records} == {"done"}
    assert summary["status"] == "completed"
    assert summary["counts"] == {"total": len(inputs), "done": len(inputs), "cached": 0, "failed": 0,
                                 "skipped": 0, "cancelled": 0}
    for record in records:
        (output,) = record["outputs"]
        with Image.open(output) as image:
            image.load()
    litter = [p for p in out.rglob(".*") if p.name.endswith((".tmp", ".partial"))]
    assert litter == [], f"temporary files left behind: {litter}"
    with JobStore.in_dir(state, readonly=True) as store:
        (job,) = store.jobs()
        items = list(store.items(job.job_id))
        assert job.status == "completed"
        assert sorted(i.path for i in items) == inputs
        assert sorted(i.index for i in items) == sorted({i.index for i in items})
        assert {i.status.value for i in items} == {"done"}
        runs = defaultdict(list)
        for item in items:
            runs[item.index] = store.runs(job.job_id, item.index)
    for index, item_runs in runs.items():
        done = [r for r in item_runs if r.status == "done"]
        assert len(done) == 1, f"item {index} was done {len(done)} times"
        assert all(r.job_run <= done[0].job_run for r in item_runs), (
            f"item {index} ran again in a later run after it was done: {item_runs}"
        )
