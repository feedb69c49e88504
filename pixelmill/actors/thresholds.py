"""Thresholds with hysteresis over Monitor samples: pure logic, no actor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pixelmill.messages import Sample, ThresholdCleared, ThresholdCrossed

__all__ = ["DEFAULT_THRESHOLDS", "LEVEL_KEYS", "Threshold", "ThresholdWatch", "thresholds_at"]


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

LEVEL_KEYS = {"memory_percent": "memory", "cpu_percent": "cpu", "disk_free_mb": "disk"}
"""The levels a configuration may set (`[monitoring.thresholds]`), by the threshold
each one moves."""


def thresholds_at(levels: Mapping[str, float]) -> dict[str, Threshold]:
    """The default thresholds, with the levels given moved and their clearing level
    kept as far from them as the defaults keep theirs (10 points for memory, 15
    for CPU, half the level more for a disk's free space).

    Raises:
        KeyError: a key is not one of `LEVEL_KEYS`.
    """
    thresholds = dict(DEFAULT_THRESHOLDS)
    for key, level in levels.items():
        name = LEVEL_KEYS[key]
        default = DEFAULT_THRESHOLDS[name]
        if default.above:
            clear = max(0.0, level - (default.level - default.clear))
        else:
            clear = level * default.clear / default.level
        thresholds[name] = Threshold(default.metric, level=float(level), clear=clear,
                                     above=default.above)
    return thresholds


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
