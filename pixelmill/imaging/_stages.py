"""Wall time per stage of `pipeline.run`, for profiling: off, and nearly free, unless asked.

The pipeline marks the end of each stage with `clock.lap(name)`; while a
`recording()` is active in the calling context, each lap adds the time since
the clock's start or its previous lap to `times[name]`. Otherwise `stage_clock`
returns a clock whose `lap` does nothing (one context-variable read per clock).
`bench/profile_pipeline.py` reads these to print where an item's time goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["StageClock", "recording", "stage_clock"]

_TIMES: ContextVar[dict[str, float] | None] = ContextVar("pixelmill_stage_times", default=None)


class StageClock:
    """Adds the seconds between consecutive laps to a dict of stage times."""

    __slots__ = ("_last", "_times")

    def __init__(self, times: dict[str, float] | None) -> None:
        self._times = times
        self._last = time.perf_counter() if times is not None else 0.0

    def lap(self, name: str) -> None:
        """Charge the time since the previous lap (or the start) to `name`."""
        times = self._times
        if times is None:
            return
        now = time.perf_counter()
        times[name] = times.get(name, 0.0) + (now - self._last)
        self._last = now


def stage_clock() -> StageClock:
    """A clock starting now, recording only inside `recording()`."""
    return StageClock(_TIMES.get())


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Collect stage times (seconds, by stage name) of the pipeline runs inside."""
    times: dict[str, float] = {}
    token = _TIMES.set(times)
    try:
        yield times
    finally:
        _TIMES.reset(token)
