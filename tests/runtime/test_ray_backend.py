"""The Ray backend: the same job gives the same exports; a killed Ray worker loses nothing.

Ray starts on loopback only (node address 127.0.0.1) and is shut down after.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from pixelmill import JobSpec, Runtime, ops
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import wait_until, write_image, write_sample_set
from pixelmill.workers.faults import FaultPlan, FaultTarget

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelmill[ray]'")

ANALYSES = ["rgb_histogram", "channel_stats", "luminance", "sharpness"]


def _spec(inputs: list[Path], out: Path) -> JobSpec:
    return JobSpec(inputs=inputs, export_dir=out, analyses=ANALYSES,
                   pipeline=[ops.thumbnail(48), ops.save(format="png")])


def _rows(out: Path) -> list[dict[str, str]]:
    text = (out / "results.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        del row["duration_ms"]
        row["outputs"] = Path(row["outputs"]).name
    return sorted(rows, key=lambda row: row["path"])


def _analyses(out: Path) -> dict[str, dict]:
    records = map(json.loads, (out / "results.jsonl").read_text().splitlines())
    return {r["path"]: r["analyses"] for r in records}


@pytest.fixture
def ray_runtime() -> Runtime:
    runtime = Runtime(backend="ray", workers=2, recovery=RecoveryPolicy(backoff_s=0.01))
    yield runtime
    runtime.shutdown()
    assert not ray.is_initialized()


def test_a_job_gives_identical_exports_locally_and_on_ray(
    ray_runtime: Runtime, tmp_path: Path
) -> None:
    inputs = write_sample_set(tmp_path / "in", 10, seed=8, broken=2)
    with Runtime(workers=2, cache_enabled=False) as local:  # Ray works them too
        local.submit(_spec(inputs, tmp_path / "local")).wait(timeout=60)
    result = ray_runtime.submit(_spec(inputs, tmp_path / "ray")).wait(timeout=120)
    assert result.counts.done == 10
    assert _rows(tmp_path / "local") == _rows(tmp_path / "ray")
    assert _analyses(tmp_path / "local") == _analyses(tmp_path / "ray")


_RUNNING = "ray::_Worker.run_task"
"""How Ray titles a worker process while it runs a task (`ray::_Worker` when idle)."""


def _ray_workers() -> dict[int, str]:
    """This process's Ray worker processes, pid -> process title.

    A local Ray instance is this process's descendant (its raylet starts the
    workers), so no other Ray on the machine is ever touched.
    """
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            title = " ".join(process.cmdline()).strip()
        except psutil.Error:
            continue  # ended meanwhile
        if title.startswith("ray::_Worker"):
            found[process.pid] = title
    return found


def test_a_killed_ray_worker_loses_no_item(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 5, seed=9)
    (tmp_path / "hung").mkdir()
    hung = write_image(tmp_path / "hung" / "small.png", size=(16, 16))
    plan = FaultPlan(targets=(FaultTarget(hung.name, "hang", attempts=(1,)),))
    # A time limit no run reaches: the item is redone because its worker's
    # death is seen, never because its limit ran out.
    with Runtime(backend="ray", workers=2, recovery=RecoveryPolicy(backoff_s=0.01),
                 faults=plan, item_timeout_s=600, batch_items=1) as runtime:
        # The five first, then the one that hangs (on its first attempt only),
        # alone: so no other item waits behind it in its Processor (each holds
        # a second piece of work for its worker) and it is all that runs.
        others = runtime.submit(_spec(inputs, tmp_path / "out")).wait(timeout=120)
        handle = runtime.submit(_spec([hung], tmp_path / "out-hung"))
        try:
            found: list[tuple[int, int]] = []

            def busy_and_idle() -> bool:
                workers = _ray_workers()
                busy = [pid for pid, title in workers.items() if title.startswith(_RUNNING)]
                idle = [pid for pid in workers if pid not in busy]
                found[:] = [(busy[0], idle[0])] if len(busy) == len(idle) == 1 else []
                return bool(found)

            wait_until(busy_and_idle, 60, "a worker hanging in the item, one idle")
            ((busy, idle),) = found
            # Kill the idle worker first: its Processor sees the death (Ray's
            # watch call fails) and replaces it before giving it work.
            os.kill(idle, signal.SIGKILL)
            wait_until(lambda: set(_ray_workers()) - {busy, idle}, 60, "the idle one replaced")
            # Then the busy one: the item hung in it is redone on a live worker.
            # (Both at once would race: the retry could reach the other Processor
            # before Ray told it its worker died, and be charged a second crash.)
            os.kill(busy, signal.SIGKILL)
            result = handle.wait(timeout=120)
        finally:
            handle.cancel(abandon=True)  # a failed test does not wait out the hang
        # The runtime goes on: the five again, elsewhere, without the cache.
        again = runtime.submit(dataclasses.replace(
            _spec(inputs, tmp_path / "again"), cache=False)).wait(timeout=120)
    assert others.counts.done == 5
    assert again.counts.done == 5
    (record,) = [json.loads(line)
                 for line in (tmp_path / "out-hung" / "results.jsonl").read_text().splitlines()]
    assert result.counts.done == 1, "no item lost"
    assert record["attempts"] == 2, "the item hung in a killed worker was redone"
    # The idle worker's death cost no item an attempt.
    records = [json.loads(line)
               for line in (tmp_path / "again" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(5)), "no item lost or doubled"
    assert all(r["attempts"] == 1 for r in records)


def test_a_second_runtime_on_a_cluster_with_no_free_cpu_is_refused(
    ray_runtime: Runtime, tmp_path: Path
) -> None:
    # The first runtime's actors hold every CPU of the local Ray instance.
    inputs = write_sample_set(tmp_path / "in", 2, seed=3)
    assert ray_runtime.submit(_spec(inputs, tmp_path / "out")).wait(timeout=120).counts.done == 2
    from pixelmill import ConfigError

    with pytest.raises(ConfigError, match="no free CPU"):
        Runtime(backend="ray")


def test_a_local_ray_listens_on_loopback_only(ray_runtime: Runtime) -> None:
    # Ray's own processes (GCS, raylet, workers) are this process's descendants.
    ours = {psutil.Process().pid, *(p.pid for p in psutil.Process().children(recursive=True))}
    listening = [
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    assert listening, "Ray listens somewhere"
    assert {ip.removeprefix("::ffff:") for ip in listening} == {"127.0.0.1"}
    assert ray.util.get_node_ip_address() == "127.0.0.1"
