"""Memory failures told apart from crashes, and degraded only where decoding smaller helps;
an item's time limit counted from its own start, in a batch too."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

import tests.runtime._memory_hog  # noqa: F401 - registers test_hog here and in workers
from pixelmill import FaultPlan, FaultTarget, JobSpec, Runtime
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import live_workers, wait_until, write_image


def _records(export_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (export_dir / "results.jsonl").read_text().splitlines()
    return {Path(r["path"]).name: r for r in map(json.loads, lines)}


def _events(log_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_file.read_text().splitlines()]


def test_a_large_png_ends_resource_memory_at_once_and_a_large_jpeg_is_degraded_to_done(
    tmp_path: Path,
) -> None:
    """Under a 200 MiB cap, 64 MP (256 MB decoded) fails. A PNG decodes at full size at any
    scale: skipped after one attempt, saying its estimated peak. A JPEG decodes at 1/2
    scale by DCT scaling: degraded, and done."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    png, jpeg = inputs / "big.png", inputs / "big.jpg"
    Image.new("RGB", (8000, 8000), (40, 80, 120)).save(png, compress_level=1)
    Image.linear_gradient("L").resize((8000, 8000)).convert("RGB").save(jpeg, quality=80)
    spec = JobSpec(inputs=[png, jpeg], export_dir=tmp_path / "out", analyses=["channel_stats"])
    with Runtime(workers=1, worker_memory_mb=200, memory_mb=4096,
                 recovery=RecoveryPolicy(backoff_s=0.01)) as runtime:
        result = runtime.submit(spec).wait(timeout=120)
    records = _records(tmp_path / "out")
    big_png, big_jpeg = records["big.png"], records["big.jpg"]
    assert (big_png["status"], big_png["reason"], big_png["attempts"]) == (
        "skipped", "resource.memory", 1)
    assert "estimated at" in big_png["message"]
    assert "PNG decodes at full size at any scale" in big_png["message"]
    assert "cap: 200 MiB" in big_png["message"]
    assert (big_jpeg["status"], big_jpeg["attempts"]) == ("done", 2)
    assert result.counts.done == 1


def _worker_of_this_runtime(before: set[int]) -> psutil.Process | None:
    workers = live_workers(excluding=before)
    return max(workers, key=lambda w: w.create_time()) if workers else None


def test_a_worker_killed_near_its_memory_cap_fails_its_item_resource_memory(
    tmp_path: Path,
) -> None:
    """SIGKILL while the worker holds most of its cap (as the OOM killer sends it) is a
    memory failure, not a crash: the PNG is skipped at once, not retried as a crash.
    (A kill at low memory is `worker.crashed` and retried: test_faults.py.)"""
    path = tmp_path / "in" / "a.png"
    path.parent.mkdir()
    write_image(path, size=(64, 48))
    log_file = tmp_path / "runtime.jsonl"
    spec = JobSpec(inputs=[path], export_dir=tmp_path / "out",
                   pipeline=[{"op": "test_hog", "mb": 180, "ms": 600_000}])
    before = {w.pid for c in psutil.Process().children() for w in c.children()}
    with Runtime(workers=1, worker_memory_mb=200, item_timeout_s=600,
                 log_file=log_file) as runtime:
        handle = runtime.submit(spec)
        wait_until(lambda: any(e["event"] == "worker.memory_high" for e in _events(log_file)),
                   30, "the worker seen near its cap")
        worker = _worker_of_this_runtime(before)
        assert worker is not None
        os.kill(worker.pid, signal.SIGKILL)
        result = handle.wait(timeout=30)
    record = _records(tmp_path / "out")["a.png"]
    assert (record["status"], record["reason"], record["attempts"]) == (
        "skipped", "resource.memory", 1)
    assert "SIGKILL" in record["message"]
    assert result.counts.skipped == 1


def test_a_hang_in_a_batch_is_stopped_at_one_items_limit_and_its_mates_run_alone(
    tmp_path: Path,
) -> None:
    """16 small items share a batch; one hangs. The batch is stopped at one item's limit
    (5 s), not at 16 x 5 s = 80 s, which is beyond this test's waits: the hung item ends
    `worker.timeout`, the 15 others run again alone, uncounted, and are done."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    paths = [inputs / f"s{i:02}.png" for i in range(16)]
    for i, path in enumerate(paths):
        write_image(path, size=(40, 30 + i))
    log_file = tmp_path / "runtime.jsonl"
    faults = FaultPlan(targets=(FaultTarget("s05.png", "hang"),))
    spec = JobSpec(inputs=paths, export_dir=tmp_path / "out", analyses=["channel_stats"])
    with Runtime(workers=1, item_timeout_s=5, batch_items=16, faults=faults,
                 log_file=log_file) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    records = _records(tmp_path / "out")
    hung = records.pop("s05.png")
    assert (hung["status"], hung["reason"], hung["attempts"]) == (
        "skipped", "worker.timeout", 1)
    assert {(r["status"], r["attempts"]) for r in records.values()} == {("done", 1)}
    assert result.counts.done == 15
    reruns = [e for e in _events(log_file) if e["event"] == "item.batch_rerun"]
    assert sorted(Path(e["item"]).name for e in reruns) == [p.name for p in paths]
    assert all("batch of 16 ran past one item's 5 s limit" in e["error"] for e in reruns)
