"""The Monitor through its messages, fed by a fake sampler."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

from pixelmill.actors.monitor import Monitor, sample_process_tree
from pixelmill.messages import GetMetrics, Metrics, Sample

if TYPE_CHECKING:
    from pixelmill.actors.base import ActorContext
    from pixelmill.testing import Probe


def _fake_sampler():
    counter = itertools.count()

    def sample() -> Sample:
        n = next(counter)
        return Sample(time=float(n), cpu_percent=float(n), rss_mb=100.0 + n,
                      available_mb=1000.0, processes=1)

    return sample


def test_samples_accumulate_at_the_interval_in_a_bounded_history(
    context: ActorContext, probe: Probe
) -> None:
    monitor = Monitor.start(context, interval_s=0.01, history=5, sampler=_fake_sampler())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        monitor.tell(GetMetrics(reply_to=probe.ref))
        metrics = probe.expect(Metrics)
        if metrics.latest is not None and metrics.latest.time >= 8:
            break
    assert len(metrics.history) == 5
    times = [s.time for s in metrics.history]
    assert times == sorted(times)
    assert times[-1] == metrics.latest.time
    assert metrics.interval_s == 0.01


def test_a_real_sample_reads_this_process() -> None:
    sample = sample_process_tree()
    assert sample.rss_mb > 10
    assert sample.available_mb > 0
    assert sample.processes >= 1
