"""Faults injected into real workers: failures, crashes, hangs, kills and broken actors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

import tests.runtime._dies_mid_save  # registers test_die_mid_save here and in workers
import tests.runtime._slow_op  # noqa: F401 - registers test_pause here and in workers
from pixelmill import BrokenRuntimeError, JobSpec, JobStatus, Runtime, ops
from pixelmill.actors.base import Role
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import crash_actor, live_workers, wait_until, write_sample_set
from pixelmill.workers.faults import FaultPlan, FaultTarget

if TYPE_CHECKING:
    from pixelmill.runtime.handle import JobResult

FAST_RETRIES = RecoveryPolicy(backoff_s=0.01, backoff_max_s=0.05)


def _run(
    tmp_path: Path,
    count: int,
    faults_for: Callable[[list[Path]], FaultPlan] | None = None,
    **config: object,
) -> tuple[JobResult, list[dict]]:
    inputs = write_sample_set(tmp_path / "in", count, seed=11)
    if faults_for is not None:
        config["faults"] = faults_for(inputs)
    out = tmp_path / "out"
    spec = JobSpec(inputs=inputs, export_dir=out,
                   pipeline=[ops.thumbnail(32), ops.save(format="png")],
                   analyses=["channel_stats"])
    with Runtime(workers=2, recovery=FAST_RETRIES, **config) as runtime:  # type: ignore[arg-type]
        result = runtime.submit(spec).wait(timeout=120)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return result, records


def _assert_each_item_once_and_outputs_unique(result: JobResult, records: list[dict]) -> None:
    assert sorted(r["index"] for r in records) == list(range(result.counts.total))
    outputs = [o for r in records for o in r["outputs"]]
    assert len(outputs) == len(set(outputs)) == result.counts.done
    assert all(Path(o).exists() for o in outputs)


def test_injected_transient_failures_are_retried_and_each_item_ends_once(
    tmp_path: Path,
) -> None:
    def some_fail(inputs: list[Path]) -> FaultPlan:
        # The rate fails some attempts; the target makes sure one first attempt fails.
        first = FaultTarget(inputs[0].name, "fail", attempts=(1,))
        return FaultPlan(fail_rate=0.2, targets=(first,))

    result, records = _run(tmp_path, 40, faults_for=some_fail)
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done + result.counts.failed == 40
    _assert_each_item_once_and_outputs_unique(result, records)
    retried = [r for r in records if r["attempts"] > 1]
    assert retried, "a 20% failure rate over 40 items retries some"
    assert all(r["reason"] == "io.transient" for r in records if r["status"] == "failed")


def test_crashing_workers_are_replaced_and_no_item_is_lost_or_doubled(tmp_path: Path) -> None:
    def some_crash(inputs: list[Path]) -> FaultPlan:
        # The rate crashes some attempts; the target makes sure one first attempt crashes.
        first = FaultTarget(inputs[0].name, "crash", attempts=(1,))
        return FaultPlan(crash_rate=0.3, targets=(first,))

    result, records = _run(tmp_path, 16, faults_for=some_crash)
    assert result.status is JobStatus.COMPLETED
    assert result.counts.done + result.counts.skipped == 16
    assert result.counts.done > 0
    _assert_each_item_once_and_outputs_unique(result, records)
    reasons = Counter(r["reason"] for r in records if r["status"] != "done")
    assert set(reasons) <= {"worker.crashed"}
    assert any(r["attempts"] == 2 for r in records)


def test_a_hanging_item_is_stopped_at_its_time_limit_and_the_job_goes_on(
    tmp_path: Path,
) -> None:
    def some_hang(inputs: list[Path]) -> FaultPlan:
        return FaultPlan(targets=(FaultTarget(inputs[2].name, "hang"),))  # on every attempt

    # `_run` waits a bounded time: the job goes on past the hang.
    result, records = _run(tmp_path, 6, faults_for=some_hang, item_timeout_s=1.0)
    hung = [r for r in records if r["status"] != "done"]
    assert [Path(r["path"]).name for r in hung] == ["photo_0002.webp"]
    assert {(r["status"], r["reason"]) for r in hung} == {("skipped", "worker.timeout")}
    assert result.counts.done == 6 - len(hung)
    _assert_each_item_once_and_outputs_unique(result, records)


def _workers(excluding: set[int]) -> list[psutil.Process]:
    """Live worker processes (forked by the fork server, a child of ours), but `excluding`."""
    return live_workers(excluding)


def test_a_worker_killed_mid_item_has_its_item_redone_and_the_job_completes(
    tmp_path: Path,
) -> None:
    (path,) = write_sample_set(tmp_path / "in", 1, seed=2)
    hangs_first = FaultPlan(targets=(FaultTarget(path.name, "hang", attempts=(1,)),))
    spec = JobSpec(inputs=[path], export_dir=tmp_path / "out",
                   pipeline=[ops.thumbnail(32), ops.save(format="png")])
    before = {w.pid for w in _workers(set())}  # of earlier Runtimes, still exiting
    with Runtime(workers=1, recovery=FAST_RETRIES, faults=hangs_first) as runtime:
        handle = runtime.submit(spec)
        # NOTE: a kill that lands before the item reached its worker only makes
        # the worker be replaced quietly, and the item then hangs: kill again.
        for _ in range(5):
            wait_until(lambda: _workers(before), 10, "a worker")
            newest = max(_workers(before), key=lambda w: w.create_time())
            os.kill(newest.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                result = handle.wait(timeout=3)
                break
        result = handle.wait(timeout=30)
    assert result.counts.done == 1
    (record,) = [
        json.loads(line)
        for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert (record["status"], record["attempts"]) == ("done", 2)


def test_a_worker_killed_while_it_saves_leaves_no_temporary_file(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 3, seed=6)
    out = tmp_path / "out"
    spec = JobSpec(inputs=inputs, export_dir=out, output_dir=out / "images",
                   pipeline=[ops.thumbnail(32), {"op": "test_die_mid_save"},
                             ops.save(format="png")])
    with Runtime(workers=1, recovery=FAST_RETRIES) as runtime:
        result = runtime.submit(spec).wait(timeout=120)

    assert result.counts.done == 3
    # Each input's first run reached the kill (an item that had not started
    # when its batch's worker died is not charged an attempt).
    assert all(path.with_name(path.name + ".killed").exists() for path in inputs)
    litter = sorted(p.name for p in out.rglob(".*"))
    assert litter == [], f"temporary files left behind: {litter}"


def test_an_actor_dying_past_the_restart_limit_aborts_cleanly(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 30, seed=4)
    spec = JobSpec(inputs=inputs, export_dir=tmp_path / "out",
                   pipeline=[{"op": "test_pause", "ms": 50}, ops.thumbnail(32),
                             ops.save(format="png")])
    with Runtime(workers=1, max_restarts=2, restart_window_s=60) as runtime:
        handle = runtime.submit(spec)
        for _ in range(3):
            crash_actor(runtime, Role.EXPORTER)
        with pytest.raises(BrokenRuntimeError, match="exporter died 3 times"):
            handle.wait(timeout=30)
        with pytest.raises(BrokenRuntimeError):
            runtime.submit(spec)


def test_a_small_worker_memory_cap_runs_small_images_and_stops_a_big_one(tmp_path: Path) -> None:
    # The cap is on top of what an idle worker maps (about 0.9 GB), so a 200
    # MiB cap leaves workers able to run; a 64 MP PNG decodes to 256 MB.
    from PIL import Image

    small = write_sample_set(tmp_path / "in", 3, seed=6)
    big = tmp_path / "in" / "big.png"
    Image.new("RGB", (8000, 8000), (40, 80, 120)).save(big, compress_level=1)
    spec = JobSpec(inputs=[*small, big], export_dir=tmp_path / "out",
                   pipeline=[ops.thumbnail(64), ops.save()], analyses=["channel_stats"])
    with Runtime(workers=1, worker_memory_mb=200, memory_mb=4096,
                 recovery=RecoveryPolicy(backoff_s=0.01)) as runtime:
        result = runtime.submit(spec).wait(timeout=120)
    records = {Path(r["path"]).name: r for r in map(
        json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert result.counts.done == 3
    assert records["big.png"]["status"] == "skipped"
    assert records["big.png"]["reason"] == "resource.memory"
