"""The durable store end to end: history, resume after an interruption, no double work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pixelmill import ConfigError, ItemStatus, JobSpec, JobStatus, Runtime, ops
from pixelmill.testing import wait_until, write_sample_set
from pixelmill.workers.faults import FaultPlan, FaultTarget

PIPELINE = [ops.thumbnail(32), ops.save(format="png")]


def _spec(inputs: list[Path], out: Path) -> JobSpec:
    return JobSpec(inputs=inputs, export_dir=out, pipeline=PIPELINE,
                   analyses=["channel_stats"], name="resumable")


def test_a_finished_job_is_listed_with_its_counts(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 3, seed=1, broken=1)
    with Runtime(workers=1, state_dir=tmp_path / "state") as runtime:
        result = runtime.submit(_spec(inputs, tmp_path / "out")).wait(timeout=60)
        (row,) = runtime.jobs()
    assert (row.job_id, row.name, row.status) == (result.job_id, "resumable", "completed")
    assert row.counts == {"total": 4, "done": 3, "cached": 0, "failed": 0, "skipped": 1, "cancelled": 0}


def test_a_cancelled_job_resumes_without_redoing_what_it_finished(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 12, seed=2)
    out = tmp_path / "out"
    state = tmp_path / "state"
    # The first run hangs on two items (whichever order they are dispatched
    # in, a third worker goes on; unbatched, so a hang holds no other item)
    # and is cancelled once others are done.
    plan = FaultPlan(targets=tuple(FaultTarget(inputs[i].name, "hang") for i in (4, 9)))
    with Runtime(workers=3, state_dir=state, faults=plan,
                 item_timeout_s=60, batch_items=1) as runtime:
        handle = runtime.submit(_spec(inputs, out))
        wait_until(lambda: handle.progress().counts.done >= 3, 60, "three items done")
        handle.cancel(abandon=True)
        first = handle.wait(timeout=30)
    assert first.status is JobStatus.CANCELLED
    done_first = {
        item["path"]: os.stat(item["outputs"][0]).st_mtime_ns
        for item in json.loads((out / "summary.json").read_text())["items"]
        if item["status"] == "done"
    }
    assert len(done_first) == first.counts.done >= 3

    with Runtime(workers=2, state_dir=state) as runtime:
        second = runtime.resume(first.job_id[:6]).wait(timeout=60)
    assert second.job_id == first.job_id
    assert second.status is JobStatus.COMPLETED
    assert second.counts.done == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["done"] == 12
    assert sorted(item["index"] for item in summary["items"]) == list(range(12))
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 12
    for path, mtime in done_first.items():
        (record,) = [r for r in records if r["path"] == path]
        assert os.stat(record["outputs"][0]).st_mtime_ns == mtime, "done items are not redone"


def test_resuming_a_completed_or_unknown_job_is_refused(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 1)
    with Runtime(workers=1, state_dir=tmp_path / "state") as runtime:
        result = runtime.submit(_spec(inputs, tmp_path / "out")).wait(timeout=60)
        with pytest.raises(ConfigError, match="completed"):
            runtime.resume(result.job_id)
        with pytest.raises(ConfigError, match="no job"):
            runtime.resume("feedface")


_KILLED_RUN = """
import sys, time
from pixelmill import JobSpec, Runtime, ops
inputs, out, state = sys.argv[1], sys.argv[2], sys.argv[3]
runtime = Runtime(workers=1, state_dir=state)
# The cache off: a kill between the store's commit of an item's cache entry and
# that of its state would have the resume end the item `cached`, not `done`.
handle = runtime.submit(JobSpec(inputs=[inputs], export_dir=out,
                        pipeline=[ops.thumbnail(32), ops.save(format="png")], cache=False))
print(handle.job_id, flush=True)
time.sleep(600)
"""


def test_a_job_killed_with_sigkill_resumes_to_a_complete_export(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 40, seed=3)
    out, state = tmp_path / "out", tmp_path / "state"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path / "in"), str(out), str(state)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert child.stdout is not None
    job_id = child.stdout.readline().strip()
    wait_until(lambda: len(list(out.glob("*.png"))) >= 5, 30, "five outputs")
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert not (out / "summary.json").exists(), "a killed job leaves no final export"

    with Runtime(workers=2, state_dir=state) as runtime:
        result = runtime.resume(job_id).wait(timeout=60)
    assert result.counts.done == 40
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(40))
    assert {r["status"] for r in records} == {ItemStatus.DONE}


def test_a_resume_after_the_folder_changed_keeps_redoes_adds_and_accounts_for_every_file(
    tmp_path: Path,
) -> None:
    import threading

    import tests.runtime._slow_op  # noqa: F401 - registers test_pause here and in workers
    from pixelmill.messages import ItemFinished
    from pixelmill.store import JobStore
    from pixelmill.testing import write_image

    folder = tmp_path / "in"
    write_sample_set(folder, 12, seed=9)
    out, state = tmp_path / "out", tmp_path / "state"
    spec = JobSpec(inputs=[str(folder)], export_dir=out, name="changing",
                   pipeline=[{"op": "test_pause", "ms": 60}, *PIPELINE],
                   analyses=["channel_stats"])
    some_done = threading.Event()
    done_first: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, ItemFinished) and event.status is ItemStatus.DONE:
            done_first.append(event.path)
            if len(done_first) >= 4:
                some_done.set()

    with Runtime(workers=1, state_dir=state, batch_items=1) as runtime:
        handle = runtime.submit(spec, on_event=on_event)
        assert some_done.wait(60)
        handle.cancel(abandon=True)
        first = handle.wait(timeout=30)
    done = sorted(done_first)
    not_done = sorted(str(p) for p in folder.iterdir() if str(p) not in done)
    assert first.status is JobStatus.CANCELLED and not_done
    outputs = {r["path"]: r["outputs"][0] for r in map(
        json.loads, (out / "results.jsonl").read_text().splitlines()) if r["status"] == "done"}
    mtimes = {path: os.stat(outputs[path]).st_mtime_ns for path in done}

    # The folder changes: one finished file is modified, one finished and one
    # unfinished are removed, two are added.
    modified, removed_done = done[0], done[1]
    removed_not_done = not_done[0]
    write_image(Path(modified), size=(40, 30), color=(1, 2, 3))
    os.remove(removed_done)
    os.remove(removed_not_done)
    added = [folder / "zz-new-1.png", folder / "aa-new-2.png"]
    for path in added:
        write_image(path, size=(33, 22))

    with Runtime(workers=2, state_dir=state) as runtime:
        second = runtime.resume(first.job_id).wait(timeout=60)

    records = {r["path"]: r for r in map(json.loads,
                                         (out / "results.jsonl").read_text().splitlines())}
    everything = {*done, *not_done, *map(str, added)}
    assert sorted(records) == sorted(everything), "every file once, the removed ones too"
    assert len({r["index"] for r in records.values()}) == len(records) == 14
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 14
    assert second.counts.as_dict() == {"total": 14, "done": 12, "cached": 0, "failed": 0, "skipped": 2,
                                       "cancelled": 0}
    for path in (removed_done, removed_not_done):
        assert (records[path]["status"], records[path]["reason"]) == ("skipped", "input.missing")
    for path in set(done) - {modified, removed_done}:
        assert os.stat(records[path]["outputs"][0]).st_mtime_ns == mtimes[path], "not redone"
    assert records[modified]["status"] == "done"
    assert records[modified]["source"]["width"] == 40, "the modified file was done again"
    for path in added:
        assert records[str(path)]["status"] == "done"
        assert records[str(path)]["index"] >= 12, "an added file takes a new index"
    with JobStore.in_dir(state, readonly=True) as store:
        runs = {i.path: store.runs(first.job_id, i.index) for i in store.items(first.job_id)}
    for path in set(done) - {modified, removed_done}:
        assert {r.job_run for r in runs[path]} == {1}, "finished files did not run again"
    assert max(r.job_run for r in runs[modified]) == 2
