"""A Runtime as a Prometheus collector: `REGISTRY.register(RuntimeCollector(runtime))`.

Needs the `metrics` extra (`pip install 'pixelmill[metrics]'`, which brings
`prometheus_client`). The collector reads `Runtime.statistics()` at each
scrape, in the scrape's thread: counts kept on the host's side as events
pass, one short ask of the ResourceManager (half a second at most; its
gauges are left out of a scrape it does not answer in time) and the process
tree's memory.

| metric | type | labels |
| --- | --- | --- |
| `pixelmill_items_finished_total` | counter | `status`, `reason` (dotted class; "" when done) |
| `pixelmill_item_duration_seconds` | histogram | `status` |
| `pixelmill_jobs_running` | gauge | |
| `pixelmill_jobs_finished_total` | counter | `status` |
| `pixelmill_items_queued`, `pixelmill_items_running` | gauge | |
| `pixelmill_memory_budget_bytes`, `pixelmill_memory_leased_bytes` | gauge | |
| `pixelmill_cpu_slots`, `pixelmill_cpu_slots_leased`, `pixelmill_lease_requests_queued` | gauge | |
| `pixelmill_worker_restarts_total` | counter | |
| `pixelmill_actor_restarts_total` | counter | `role` |
| `pixelmill_process_tree_resident_memory_bytes` | gauge | |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "pixelmill.metrics needs prometheus_client: pip install 'pixelmill[metrics]'"
    ) from exc

from pixelmill.messages import JobStatus
from pixelmill.runtime.async_runtime import AsyncRuntime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from pixelmill.runtime.runtime import Runtime
    from pixelmill.runtime.statistics import RuntimeStatistics

__all__ = ["RuntimeCollector"]

_MIB = 2**20


class RuntimeCollector(Collector):
    """Publishes one Runtime's (or AsyncRuntime's) statistics to a Prometheus registry.

    ```python
    from prometheus_client import REGISTRY
    REGISTRY.register(RuntimeCollector(runtime))
    ```

    `collect()` runs in the scraping thread (never call it on an event loop)
    and may wait up to half a second for the ResourceManager. The counters
    start at zero with the runtime. After shutdown the counts stay readable
    and the budget's gauges go.

    Args:
        runtime: the `Runtime` or `AsyncRuntime` to publish.
        labels: constant labels on every sample, to tell two runtimes of one
            process apart (`{"runtime": "thumbnails"}`).
    """

    def __init__(self, runtime: Runtime | AsyncRuntime,
                 *, labels: Mapping[str, str] | None = None) -> None:
        self._read: Callable[[], RuntimeStatistics]
        if isinstance(runtime, AsyncRuntime):
            # The scrape has a thread of its own, where the blocking read belongs.
            self._read = runtime._statistics_blocking  # noqa: SLF001
        else:
            self._read = runtime.statistics
        self._names = tuple(labels or {})
        self._values = tuple((labels or {}).values())

    def describe(self) -> Iterator[Metric]:
        """The metric families, without reading the runtime (for the registry's checks)."""
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        """The runtime's statistics now, as metric families."""
        yield from self._families(self._read())

    def _families(self, stats: RuntimeStatistics | None) -> Iterator[Metric]:
        names, values = self._names, self._values
        items = CounterMetricFamily(
            "pixelmill_items_finished", "Items that reached a final status, by status and reason",
            labels=(*names, "status", "reason"),
        )
        durations = HistogramMetricFamily(
            "pixelmill_item_duration_seconds", "How long finished items took in their workers",
            labels=(*names, "status"),
        )
        jobs = CounterMetricFamily(
            "pixelmill_jobs_finished", "Jobs that ended, by status", labels=(*names, "status")
        )
        actors = CounterMetricFamily(
            "pixelmill_actor_restarts", "Actors replaced after a crash, by role",
            labels=(*names, "role"),
        )
        workers = CounterMetricFamily(
            "pixelmill_worker_restarts", "Worker processes replaced (crashed, timed out, died)",
            labels=names,
        )
        if stats is not None:
            for (status, reason), count in sorted(stats.items_finished.items()):
                items.add_metric((*values, status, reason), count)
            for status, histogram in sorted(stats.item_durations.items()):
                cumulative, buckets = 0, []
                for bound, count in zip(histogram.bounds_s, histogram.counts, strict=False):
                    cumulative += count
                    buckets.append((repr(bound), cumulative))
                buckets.append(("+Inf", histogram.count))
                durations.add_metric((*values, status), buckets, histogram.sum_s)
            for status in JobStatus:
                if status is not JobStatus.RUNNING:
                    jobs.add_metric((*values, status.value), stats.jobs_finished.get(status, 0))
            for role, count in sorted(stats.actor_restarts.items()):
                actors.add_metric((*values, role), count)
            workers.add_metric(values, stats.worker_restarts)
        yield from (items, durations, jobs, actors, workers)
        for name, doc, field, scale in _GAUGES:
            family = GaugeMetricFamily(name, doc, labels=names)
            value = None if stats is None else getattr(stats, field)
            if value is not None:
                family.add_metric(values, value * scale)
            yield family


_GAUGES = (
    ("pixelmill_jobs_running", "Jobs submitted and not ended", "jobs_running", 1),
    ("pixelmill_items_queued", "Items of running jobs waiting to run", "items_queued", 1),
    ("pixelmill_items_running", "Items in workers now", "items_running", 1),
    ("pixelmill_memory_budget_bytes", "The ResourceManager's memory budget", "memory_mb", _MIB),
    ("pixelmill_memory_leased_bytes", "Memory held by leases", "memory_leased_mb", _MIB),
    ("pixelmill_cpu_slots", "CPU slots in the budget", "cpu_slots", 1),
    ("pixelmill_cpu_slots_leased", "CPU slots held by leases", "cpu_slots_leased", 1),
    ("pixelmill_lease_requests_queued", "Lease requests waiting for a grant", "leases_queued", 1),
    ("pixelmill_process_tree_resident_memory_bytes",
     "Resident memory of the host process and its workers", "rss_mb", _MIB),
)
"""(name, help, `RuntimeStatistics` field, scale to base units): a field that is None
(the budget, unanswered) leaves its gauge without a sample."""
