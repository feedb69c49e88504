"""Headers are probed in worker processes: nothing untrusted is read in the host."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pixelmill import FaultPlan, FaultTarget, JobSpec, Runtime
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import wait_until, write_image

FAST_RETRIES = RecoveryPolicy(backoff_s=0.01, backoff_max_s=0.05)

_opened: list[str] | None = None
"""While a test records: every path this process opened (an audit hook cannot be removed)."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


def _inputs(directory: Path, count: int, prefix: str = "in") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{prefix}{i}.png" for i in range(count)]
    for i, path in enumerate(paths):
        write_image(path, size=(40 + i, 30), color=(10 * i, 80, 120))
    return paths


def _records(export_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (export_dir / "results.jsonl").read_text().splitlines()
    return {Path(r["path"]).name: r for r in map(json.loads, lines)}


def test_the_host_process_never_opens_an_input(tmp_path: Path) -> None:
    """Headers and the result cache's hashes are read by workers: the host opens no input
    (a run that hashes every file for the cache, and a re-run that hits it)."""
    global _opened
    inputs = _inputs(tmp_path / "in", 4)
    spec = JobSpec(inputs=inputs, export_dir=tmp_path / "out", analyses=["channel_stats"])
    _opened = []
    try:
        with Runtime(workers=2, state_dir=tmp_path / "state") as runtime:
            first = runtime.submit(spec).wait(timeout=60)
            again = runtime.submit(spec).wait(timeout=60)
        opened = set(_opened)
    finally:
        _opened = None
    assert (first.counts.done, again.counts.cached) == (4, 4)
    assert not opened & {str(path) for path in inputs}, "an input was opened in the host"


def test_a_probe_that_crashes_or_hangs_costs_its_item_only(tmp_path: Path) -> None:
    """A header whose probe kills its worker is retried once, then skipped as
    `worker.crashed`; one that hangs is stopped at the time limit as `worker.timeout`.
    Both shared a probe batch with the others, which are not charged and end done."""
    inputs = _inputs(tmp_path / "in", 6)
    faults = FaultPlan(targets=(
        FaultTarget("in1.png", "crash", stage="probe"),  # every attempt
        FaultTarget("in4.png", "hang", stage="probe"),
    ))
    spec = JobSpec(inputs=inputs, export_dir=tmp_path / "out", analyses=["channel_stats"])
    with Runtime(workers=2, item_timeout_s=1.0, faults=faults, recovery=FAST_RETRIES) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    records = _records(tmp_path / "out")
    assert (records["in1.png"]["status"], records["in1.png"]["reason"]) == (
        "skipped", "worker.crashed")
    assert records["in1.png"]["attempts"] == 2
    assert (records["in4.png"]["status"], records["in4.png"]["reason"]) == (
        "skipped", "worker.timeout")
    assert records["in4.png"]["attempts"] == 1
    others = [r for name, r in records.items() if name not in ("in1.png", "in4.png")]
    assert [(r["status"], r["attempts"]) for r in others] == [("done", 1)] * 4
    assert result.counts.done == 4


def test_the_job_manager_answers_while_a_probe_hangs(tmp_path: Path) -> None:
    """A probe that hangs holds one worker, not the JobManager: another job runs to its
    end (submitted to, and run by, the same JobManager) while it hangs; an abandon then
    stops its worker."""
    (hanging,) = _inputs(tmp_path / "a", 1)
    other = _inputs(tmp_path / "b", 3, prefix="other")  # a fault strikes by file name
    faults = FaultPlan(targets=(FaultTarget(hanging.name, "hang", stage="probe"),))
    log_file = tmp_path / "runtime.jsonl"
    # A limit far beyond this test's waits: the hang lasts until the abandon.
    with Runtime(workers=2, item_timeout_s=600, faults=faults, log_file=log_file) as runtime:
        stuck = runtime.submit(JobSpec(inputs=[hanging], export_dir=tmp_path / "out-a"))
        second = runtime.submit(JobSpec(inputs=other, export_dir=tmp_path / "out-b"))
        assert second.wait(timeout=30).counts.done == 3
        assert not stuck.done()
        assert stuck.progress().counts.finished == 0
        stuck.cancel(abandon=True)
        result = stuck.wait(timeout=30)

        def replaced_for_the_abandon() -> bool:
            events = [json.loads(line) for line in log_file.read_text().splitlines()]
            return any(e["event"] == "worker.replaced" and e.get("why") == "abandoned"
                       for e in events)

        # The probe was running in a worker, which the abandon kills: the job ends
        # at once, the Processor sees its worker die a moment later (before the
        # runtime shuts down, or it would never say so).
        wait_until(replaced_for_the_abandon, 30, "the hung probe's worker replaced")
    assert result.counts.cancelled == 1
