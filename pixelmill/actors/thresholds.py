"""Thresholds with hysteresis over Monitor samples: pure logic, no actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pixelmill.messages import Sample, ThresholdCleared, ThresholdCrossed

__all__ = ["DEFAULT_THRESHOLDS", "Threshold", "ThresholdWatch"]


@dataclass(frozen=True, slots=True)
class Threshold:
    """A level on one metric of `Sample`, with a separate level to clear it.

    With `above`, the threshold is crossed when the value rises past `level`
    and cleared only when it falls back below `clear`; without, the other way
    round. The gap between the two keeps a metric hovering at the level from
    flapping.
    """

    metric: str
    """A numeric field of `Sample`, or `disk_free_mb` (checked per watched dir)."""
    level: float
    clear: float
    above: bool = True

    def crossed(self, value: float) -> bool:
        return value > self.level if self.above else value < self.level

    def cleared(self, value: float) -> bool:
        return value < self.clear if self.above else value > self.clear


DEFAULT_THRESHOLDS: Mapping[str, Threshold] = {
    "memory": Threshold("memory_percent", level=90.0, clear=80.0),
    "cpu": Threshold("cpu_percent", level=95.0, clear=80.0),
    "disk": Threshold("disk_free_mb", level=500.0, clear=750.0, above=False),
}
"""`memory` is what makes the ResourceManager shrink its budget."""


class ThresholdWatch:
    """Turns a stream of samples into crossed and cleared events."""

    def __init__(self, thresholds: Mapping[str, Threshold] = DEFAULT_THRESHOLDS) -> None:
        self._thresholds = dict(thresholds)
        self.active: set[str] = set()
        """Names crossed and not yet cleared (`disk:<dir>` per directory)."""

    def observe(self, sample: Sample) -> list[ThresholdCrossed | ThresholdCleared]:
        events: list[ThresholdCrossed | ThresholdCleared] = []
        for name, threshold in self._thresholds.items():
            for key, value in self._values(name, threshold, sample):
                if key not in self.active and threshold.crossed(value):
                    self.active.add(key)
                    events.append(ThresholdCrossed(
                        name=key, value=value, level=threshold.level, time=sample.time
                    ))
                elif key in self.active and threshold.cleared(value):
                    self.active.discard(key)
                    events.append(ThresholdCleared(
                        name=key, value=value, level=threshold.clear, time=sample.time
                    ))
        return events

    @staticmethod
    def _values(name: str, threshold: Threshold, sample: Sample) -> list[tuple[str, float]]:
        if threshold.metric == "disk_free_mb":
            return [(f"{name}:{directory}", free) for directory, free in sample.disk_free_mb]
        return [(name, float(getattr(sample, threshold.metric)))]
