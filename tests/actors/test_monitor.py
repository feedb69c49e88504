"""The Monitor through its messages, fed by a fake sampler; thresholds with hysteresis."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pixelmill.actors.monitor import Monitor, sample_process_tree
from pixelmill.actors.thresholds import Threshold, ThresholdWatch
from pixelmill.messages import (
    GetMetrics,
    Metrics,
    Sample,
    Subscribe,
    ThresholdCleared,
    ThresholdCrossed,
    WatchDisk,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.actors.base import ActorContext
    from pixelmill.testing import Probe


def _sample(n: float, memory_percent: float = 50.0, disks: Sequence[str] = ()) -> Sample:
    return Sample(time=n, cpu_percent=n, rss_mb=100.0 + n, available_mb=1000.0,
                  memory_percent=memory_percent, processes=1,
                  disk_free_mb=tuple((d, 10.0) for d in disks))


class _Script:
    """A sampler that plays memory levels in order, then repeats the last."""

    def __init__(self, memory: Sequence[float]) -> None:
        self._memory = list(memory)
        self.calls = 0
        self.directories: Sequence[str] = ()

    def __call__(self, directories: Sequence[str]) -> Sample:
        self.directories = directories
        level = self._memory[min(self.calls, len(self._memory) - 1)]
        self.calls += 1
        return _sample(float(self.calls), memory_percent=level, disks=directories)


def test_samples_accumulate_at_the_interval_in_a_bounded_history(
    context: ActorContext, probe: Probe
) -> None:
    sampler = _Script([50.0])
    monitor = Monitor.start(context, interval_s=0.01, history=5, sampler=sampler)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        monitor.tell(GetMetrics(reply_to=probe.ref))
        metrics = probe.expect(Metrics)
        if metrics.latest is not None and metrics.latest.time >= 8:
            break
    assert len(metrics.history) == 5
    times = [s.time for s in metrics.history]
    assert times == sorted(times)
    assert metrics.latest is not None
    assert times[-1] == metrics.latest.time
    assert metrics.interval_s == 0.01


def test_subscribers_hear_samples_and_one_crossing_and_one_clearing(
    context: ActorContext, probe: Probe
) -> None:
    sampler = _Script([50, 95, 92, 85, 95, 70, 70])  # 92 and 85 stay crossed: hysteresis
    monitor = Monitor.start(context, interval_s=0.02, sampler=sampler)
    monitor.tell(Subscribe(ref=probe.ref, samples=False))
    crossed = probe.expect(ThresholdCrossed)
    assert (crossed.name, crossed.value, crossed.level) == ("memory", 95, 90)
    cleared = probe.expect(ThresholdCleared)
    assert (cleared.name, cleared.value) == ("memory", 70)
    probe.expect_nothing(within=0.2)


def test_watched_dirs_are_sampled_for_free_space(
    context: ActorContext, probe: Probe, tmp_path: Path
) -> None:
    sampler = _Script([50.0])
    monitor = Monitor.start(context, interval_s=0.01, sampler=sampler)
    monitor.tell(WatchDisk(directory=str(tmp_path)))
    monitor.tell(Subscribe(ref=probe.ref))
    crossed = probe.expect(ThresholdCrossed)
    assert crossed.name == f"disk:{tmp_path}"
    metrics = monitor.ask(GetMetrics(), timeout=5)
    assert f"disk:{tmp_path}" in metrics.active


def test_a_threshold_below_clears_only_above_its_clearing_level() -> None:
    watch = ThresholdWatch({"low": Threshold("available_mb", level=100, clear=200, above=False)})
    levels = [500, 90, 150, 199, 201, 90]

    def sample(available: float) -> Sample:
        return Sample(time=0, cpu_percent=0, rss_mb=0, available_mb=available,
                      memory_percent=0, processes=1)

    kinds = [[type(e).__name__ for e in watch.observe(sample(v))] for v in levels]
    assert kinds == [[], ["ThresholdCrossed"], [], [], ["ThresholdCleared"], ["ThresholdCrossed"]]


def test_a_real_sample_reads_this_process(tmp_path: Path) -> None:
    sample = sample_process_tree([str(tmp_path)])
    assert sample.rss_mb > 10
    assert sample.available_mb > 0
    assert 0 < sample.memory_percent < 100
    assert sample.processes >= 1
    ((directory, free_mb),) = sample.disk_free_mb
    assert directory == str(tmp_path)
    assert free_mb > 0
