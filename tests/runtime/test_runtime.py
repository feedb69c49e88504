"""The Runtime end to end: real actors, real worker processes, generated images."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pykka
import pytest
from PIL import Image

from pixelmill import (
    ClosedRuntimeError,
    ConfigError,
    ItemStatus,
    JobSpec,
    JobStatus,
    Runtime,
    ops,
)
from pixelmill.actors.processor import DEPTH
from pixelmill.messages import ItemFinished, JobFinished, JobProgress
from pixelmill.testing import write_broken_files, write_image, write_sample_set

if TYPE_CHECKING:
    from collections.abc import Iterator

ANALYSES = ["rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata"]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    log_file = tmp_path_factory.mktemp("logs") / "runtime.jsonl"
    with Runtime(workers=2, log_file=log_file, monitor_interval_s=0.2) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _stop_all() -> Iterator[None]:
    # The module's Runtime outlives each test here: override the suite's
    # stop-everything clean-up, and check instead that the Runtime is whole.
    yield


def _job(inputs: list[Path], out: Path, **fields: object) -> JobSpec:
    return JobSpec(
        inputs=inputs,
        export_dir=out,
        pipeline=[ops.thumbnail(64), ops.save(format="jpeg", quality=80)],
        analyses=ANALYSES,
        **fields,  # type: ignore[arg-type]
    )


def test_a_mixed_batch_with_broken_files_accounts_for_every_input(
    runtime: Runtime, tmp_path: Path
) -> None:
    inputs = write_sample_set(tmp_path / "in", 47, seed=3, broken=3)
    assert len(inputs) == 50
    out = tmp_path / "out"
    result = runtime.submit(_job([tmp_path / "in"], out)).wait(timeout=120)

    assert result.status is JobStatus.COMPLETED
    assert result.counts.total == 50
    assert result.counts.done == 47
    assert result.counts.skipped == 3
    assert result.counts.done + result.counts.failed + result.counts.skipped == 50

    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == result.counts.as_dict()
    assert len(summary["items"]) == 50
    assert {item["path"] for item in summary["items"]} == {str(p) for p in inputs}
    skipped = [item for item in summary["items"] if item["status"] == "skipped"]
    assert all(item["reason"].startswith("input.") and item["message"] for item in skipped)

    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text(encoding="utf-8"), newline="")))
    assert len(rows) == 50
    done_rows = [row for row in rows if row["status"] == "done"]
    assert all(0 <= float(row["r_mean"]) <= 255 for row in done_rows)
    assert all(int(row["width"]) <= 64 and int(row["height"]) <= 64 for row in done_rows)

    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 50
    for record in records:
        if record["status"] == "done":
            histogram = record["analyses"]["rgb_histogram"]
            assert sum(histogram["r"]) == record["width"] * record["height"]
            (output,) = record["outputs"]
            with Image.open(output) as image:
                image.load()
                assert image.format == "JPEG"
                assert image.size == (record["width"], record["height"])
    assert not list(out.glob(".*.partial"))


def test_events_arrive_in_order_and_end_with_job_finished(
    runtime: Runtime, tmp_path: Path
) -> None:
    inputs = [tmp_path / f"{n}.png" for n in range(4)]
    for path in inputs:
        write_image(path, size=(32, 16))
    handle = runtime.submit(_job(inputs, tmp_path / "out"))
    events = list(handle.events(timeout=60))
    assert isinstance(events[-1], JobFinished)
    items = [e for e in events if isinstance(e, ItemFinished)]
    assert sorted(e.index for e in items) == [0, 1, 2, 3]
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert [p.counts.finished for p in progress] == [1, 2, 3, 4]
    assert handle.progress().counts.done == 4


def test_a_progress_callback_sees_every_item(runtime: Runtime, tmp_path: Path) -> None:
    seen: list[ItemFinished] = []
    inputs = [tmp_path / f"{n}.png" for n in range(3)]
    for path in inputs:
        write_image(path)
    handle = runtime.submit(
        _job(inputs, tmp_path / "out"),
        on_event=lambda e: seen.append(e) if isinstance(e, ItemFinished) else None,
    )
    handle.wait(timeout=60)
    assert sorted(e.index for e in seen) == [0, 1, 2]


def test_two_jobs_from_two_host_threads_both_complete(runtime: Runtime, tmp_path: Path) -> None:
    results = {}

    def submit(name: str) -> None:
        inputs = write_sample_set(tmp_path / name, 6, seed=len(name))
        handle = runtime.submit(_job(inputs, tmp_path / f"out-{name}", name=name))
        results[name] = handle.wait(timeout=120)

    threads = [threading.Thread(target=submit, args=(name,)) for name in ("a", "bb")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert {name: r.counts.done for name, r in results.items()} == {"a": 6, "bb": 6}
    assert {r.name for r in results.values()} == {"a", "bb"}


def test_each_broken_file_is_skipped_with_its_own_reason(
    runtime: Runtime, tmp_path: Path
) -> None:
    broken = write_broken_files(tmp_path / "broken")
    result = runtime.submit(_job(list(broken.values()), tmp_path / "out")).wait(timeout=60)
    assert result.counts.skipped == len(broken)
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    reasons = {Path(r["path"]).name: r["reason"] for r in records}
    assert all(reason.startswith("input.") for reason in reasons.values())
    assert len(set(reasons.values())) >= 2


def test_a_cancelled_job_marks_what_did_not_run(runtime: Runtime, tmp_path: Path) -> None:
    # More small items than the workers' batches in flight can hold.
    inputs = write_sample_set(tmp_path / "in", 120, seed=5)
    handle = runtime.submit(_job(inputs, tmp_path / "out"))
    handle.cancel()
    result = handle.wait(timeout=60)
    assert result.status is JobStatus.CANCELLED
    assert result.counts.cancelled > 0
    assert result.counts.done + result.counts.cancelled == 120
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sum(item["status"] == ItemStatus.CANCELLED for item in summary["items"]) == (
        result.counts.cancelled
    )


def test_a_bad_step_is_refused_with_a_message_naming_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    spec = JobSpec(inputs=[tmp_path], export_dir=tmp_path / "o",
                   pipeline=[{"op": "thumbnail", "size": -3}])
    with pytest.raises(ConfigError, match=r"pipeline step 1 \(thumbnail\): size"):
        runtime.submit(spec)
    with pytest.raises(ConfigError, match="thumbnial"):
        runtime.submit(JobSpec(inputs=[tmp_path], export_dir=tmp_path / "o",
                               pipeline=[{"op": "thumbnial"}]))


def test_the_same_export_dir_cannot_serve_two_running_jobs(
    runtime: Runtime, tmp_path: Path
) -> None:
    inputs = write_sample_set(tmp_path / "in", 8, seed=1)
    first = runtime.submit(_job(inputs, tmp_path / "out"))
    try:
        with pytest.raises(ConfigError, match="export_dir"):
            runtime.submit(_job(inputs, tmp_path / "out"))
    finally:
        first.wait(timeout=60)


def test_the_monitor_and_budget_answer(runtime: Runtime) -> None:
    metrics = runtime.metrics()
    assert metrics.latest is not None
    assert metrics.latest.processes >= 3  # this process and two workers
    assert metrics.latest.rss_mb > 0
    budget = runtime.budget()
    assert budget.cpu_slots == 2 * DEPTH  # each of the two workers runs one, holds the next


def test_the_log_is_json_lines_with_job_fields(runtime: Runtime, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", color=(1, 2, 3))  # bytes no other test here caches
    result = runtime.submit(_job([tmp_path / "a.png"], tmp_path / "out")).wait(timeout=60)
    assert runtime.config.log_file is not None
    lines = [json.loads(line) for line in runtime.config.log_file.read_text().splitlines()]
    done = [r for r in lines if r["event"] == "item.done" and r.get("job_id") == result.job_id]
    assert len(done) == 1
    assert {"timestamp", "level", "actor", "duration_ms", "item", "attempt"} <= done[0].keys()


def test_two_runtimes_share_no_actors_and_shut_down_cleanly(tmp_path: Path) -> None:
    before = set(pykka.ActorRegistry.get_all())
    with Runtime(workers=1) as first, Runtime(workers=1) as second:
        write_image(tmp_path / "a.png")
        a = first.submit(_job([tmp_path / "a.png"], tmp_path / "o1"))
        b = second.submit(_job([tmp_path / "a.png"], tmp_path / "o2"))
        # They share one job store, so one may take the other's work from the
        # result cache (whichever finishes first): done or cached, both succeed.
        assert a.wait(timeout=60).counts.succeeded == 1
        assert b.wait(timeout=60).counts.succeeded == 1
        assert (tmp_path / "o1" / "a.jpg").is_file()
        assert (tmp_path / "o2" / "a.jpg").is_file()
    assert set(pykka.ActorRegistry.get_all()) == before
    with pytest.raises(ClosedRuntimeError):
        first.submit(_job([tmp_path / "a.png"], tmp_path / "o3"))


def test_a_threshold_level_from_the_config_moves_the_monitors_threshold(tmp_path: Path) -> None:
    from pixelmill.messages import ThresholdCrossed
    from pixelmill.testing import wait_until

    crossed: list[ThresholdCrossed] = []
    # Any machine uses more than 0.5 % of its memory: the memory threshold crosses.
    with Runtime(workers=1, memory_mb=1000, monitor_interval_s=0.05,
                 thresholds={"memory_percent": 0.5}) as runtime:
        runtime.subscribe(lambda e: crossed.append(e) if isinstance(e, ThresholdCrossed) else None)
        wait_until(lambda: any(e.name == "memory" for e in crossed), 10, "a memory crossing")
        wait_until(lambda: runtime.budget().memory_mb == 500, 10, "the budget halved")
    (memory,) = [e for e in crossed if e.name == "memory"]
    assert memory.level == 0.5
