"""Priorities, backpressure, cancellation, disk reserve and feature switches, end to end."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from pixelmill import BusyRuntimeError, JobSpec, JobStatus, Priority, Runtime, ops
from pixelmill.messages import ItemFinished
from pixelmill.testing import wait_until, write_sample_set
from pixelmill.workers.faults import FaultPlan

PIPELINE = [ops.thumbnail(32), ops.save(format="png")]


def _spec(inputs: list[Path], out: Path, **fields: object) -> JobSpec:
    return JobSpec(inputs=inputs, export_dir=out, pipeline=PIPELINE,
                   analyses=["channel_stats", "luminance"], **fields)  # type: ignore[arg-type]


def test_an_urgent_job_overtakes_a_large_low_one(tmp_path: Path) -> None:
    low_inputs = write_sample_set(tmp_path / "low", 60, seed=1)
    urgent_inputs = write_sample_set(tmp_path / "urgent", 4, seed=2)
    finished: list[tuple[str, float]] = []

    def record(name: str):
        def on_event(event: object) -> None:
            if isinstance(event, ItemFinished):
                finished.append((name, time.monotonic()))
        return on_event

    with Runtime(workers=1) as runtime:
        low = runtime.submit(_spec(low_inputs, tmp_path / "o-low", priority=Priority.LOW),
                             on_event=record("low"))
        wait_until(lambda: sum(1 for name, _ in finished if name == "low") >= 3, 60,
                   "three low items")
        urgent = runtime.submit(
            _spec(urgent_inputs, tmp_path / "o-urgent", priority="urgent"),
            on_event=record("urgent"),
        )
        urgent_result = urgent.wait(timeout=60)
        low_done_when_urgent_ended = sum(1 for name, _ in finished if name == "low")
        low_result = low.wait(timeout=120)
    assert urgent_result.counts.done == 4
    assert low_result.counts.done == 60
    # The urgent job ran on the next free slots, not after the low job's 60 items.
    assert low_done_when_urgent_ended < 20


def test_past_max_jobs_submit_nowait_fails_fast_and_submit_times_out(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 2, seed=3)
    plan = FaultPlan(hang_rate=1.0)
    with Runtime(workers=1, max_jobs=1, faults=plan, item_timeout_s=1.0) as runtime:
        first = runtime.submit(_spec(inputs, tmp_path / "o1"))
        with pytest.raises(BusyRuntimeError, match="max_jobs"):
            runtime.submit_nowait(_spec(inputs, tmp_path / "o2"))
        with pytest.raises(BusyRuntimeError):  # not a wait for the hung job
            runtime.submit(_spec(inputs, tmp_path / "o3"), timeout=0.2)
        first.cancel(abandon=True)
        first.wait(timeout=30)
        second = runtime.submit(_spec(inputs, tmp_path / "o4"), timeout=10)
        second.cancel(abandon=True)
        assert second.wait(timeout=30).status is JobStatus.CANCELLED


def test_cancel_with_abandon_stops_running_items_and_releases_every_lease(
    tmp_path: Path,
) -> None:
    inputs = write_sample_set(tmp_path / "in", 6, seed=4)
    with Runtime(workers=2, faults=FaultPlan(hang_rate=1.0), item_timeout_s=60) as runtime:
        handle = runtime.submit(_spec(inputs, tmp_path / "out"))
        wait_until(lambda: runtime.budget().leases >= 2, 30, "two leases held")
        handle.cancel(abandon=True)
        # Items hang for ever: a wait that ends proves the abandon did not wait.
        result = handle.wait(timeout=30)
        budget = runtime.budget()
    assert result.status is JobStatus.CANCELLED
    assert result.counts.cancelled == 6
    assert (budget.leases, budget.queued, budget.cpu_slots_free) == (0, 0, budget.cpu_slots)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {item["status"] for item in summary["items"]} == {"cancelled"}


def test_a_disk_below_the_reserve_aborts_with_no_space_before_writing(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 5, seed=5)
    with Runtime(workers=1, min_free_mb=10**9) as runtime:  # no disk has a petabyte free
        result = runtime.submit(_spec(inputs, tmp_path / "out")).wait(timeout=60)
    assert result.status is JobStatus.ABORTED
    assert result.reason == "output.no_space"
    assert result.counts.done == 0
    assert not list((tmp_path / "out").glob("*.png"))


def _rows(out: Path) -> list[dict[str, str]]:
    text = (out / "results.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        row.pop("duration_ms")
        row["outputs"] = Path(row["outputs"]).name
    return sorted(rows, key=lambda r: r["path"])


def test_results_are_identical_with_every_feature_on_and_off(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 8, seed=6, broken=2)
    with Runtime(workers=2) as runtime:
        runtime.submit(_spec(inputs, tmp_path / "on")).wait(timeout=60)
    # Without the cache: the second run works every item too.
    with Runtime(workers=2, monitor_enabled=False, admission_control=False,
                 cache_enabled=False) as runtime:
        assert runtime.metrics().latest is None
        runtime.submit(_spec(inputs, tmp_path / "off")).wait(timeout=60)
    assert _rows(tmp_path / "on") == _rows(tmp_path / "off")
    assert len(_rows(tmp_path / "on")) == 10


def test_a_host_subscribes_to_samples_from_the_monitor() -> None:
    from pixelmill.messages import Sample

    samples: list[Sample] = []
    with Runtime(workers=1, monitor_interval_s=0.05) as runtime:
        runtime.subscribe(lambda event: samples.append(event) if isinstance(event, Sample) else 0)
        wait_until(lambda: len(samples) >= 3, 10, "three samples")
    assert len(samples) >= 3
    assert all(sample.rss_mb > 0 for sample in samples)
