"""pixelmill.metrics: a real Runtime's statistics, scraped and parsed by prometheus_client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pixelmill import FaultPlan, FaultTarget, JobSpec, Runtime, ops
from pixelmill.actors.base import Role
from pixelmill.metrics import RuntimeCollector
from pixelmill.testing import crash_actor, wait_until, write_sample_set

if TYPE_CHECKING:
    from pathlib import Path


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed back from the exposition text."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_counts_items_jobs_and_restarts(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 4, broken=1)
    crash = inputs[0].name  # its worker dies on every attempt: replaced, then skipped
    faults = FaultPlan(targets=(FaultTarget(crash, "crash"),))
    with Runtime(workers=1, faults=faults, state_dir=tmp_path / "state") as runtime:
        registry = CollectorRegistry()
        registry.register(RuntimeCollector(runtime, labels={"runtime": "test"}))
        before = _scrape(registry)
        spec = JobSpec(inputs=inputs, export_dir=tmp_path / "out",
                       pipeline=[ops.thumbnail(32), ops.save(format="png")])
        result = runtime.submit(spec).wait(timeout=120)
        crash_actor(runtime, Role.EXPORTER)
        # The Processor logs its worker's replacement as it starts the new one.
        wait_until(lambda: runtime.statistics().worker_restarts >= 2, 30, "worker restarts")
        after = _scrape(registry)

    def at(scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float | None:
        return scrape.get((name, tuple(sorted({"runtime": "test", **labels}.items()))))

    assert at(before, "pixelmill_jobs_running") == 0
    assert at(before, "pixelmill_items_finished_total", status="done", reason="") is None
    done = at(after, "pixelmill_items_finished_total", status="done", reason="")
    assert done == result.counts.done == 3
    skipped = {
        labels: value for (name, labels), value in after.items()
        if name == "pixelmill_items_finished_total" and ("status", "skipped") in labels
    }
    assert sum(skipped.values()) == result.counts.skipped == 2
    assert any(("reason", "worker.crashed") in labels for labels in skipped)
    assert at(after, "pixelmill_item_duration_seconds_count", status="done") == 3
    assert at(after, "pixelmill_item_duration_seconds_bucket", status="done", le="+Inf") == 3
    assert at(after, "pixelmill_jobs_finished_total", status="completed") == 1
    assert at(after, "pixelmill_jobs_finished_total", status="aborted") == 0
    assert (at(after, "pixelmill_worker_restarts_total") or 0) >= 2
    assert at(after, "pixelmill_actor_restarts_total", role="exporter") == 1
    assert (at(after, "pixelmill_memory_budget_bytes") or 0) > 0
    assert at(after, "pixelmill_cpu_slots") == 2
    assert at(after, "pixelmill_memory_leased_bytes") == 0
    assert (at(after, "pixelmill_process_tree_resident_memory_bytes") or 0) > 0


def test_after_shutdown_the_counts_stay_and_the_budget_goes(tmp_path: Path) -> None:
    with Runtime(workers=1, state_dir=tmp_path / "state") as runtime:
        registry = CollectorRegistry()
        registry.register(RuntimeCollector(runtime))
    after = _scrape(registry)
    assert after[("pixelmill_jobs_running", ())] == 0
    assert after[("pixelmill_worker_restarts_total", ())] == 0
    assert ("pixelmill_memory_budget_bytes", ()) not in after
