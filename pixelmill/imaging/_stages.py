"""Wall time per stage of `pipeline.run`, for profiling: off, and nearly free, unless asked.

The pipeline marks the end of each stage with `clock.lap(name)`; while a
`recording()` is active in the calling context, each lap adds the time since
the clock's start or its previous lap to `times[name]`. Otherwise `stage_clock`
returns a clock whose `lap` does nothing (one context-variable read per clock).
`bench/profile_pipeline.py` reads these to print where an item's time goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["StageClock", "recording", "stage_clock"]

Clock = Callable[[], float]
_RECORDING: ContextVar[tuple[dict[str, float], Clock] | None] = ContextVar(
    "pixelmill_stage_times", default=None
)


class StageClock:
    """Adds the seconds between consecutive laps to a dict of stage times."""

    __slots__ = ("_clock", "_last", "_times")

    def __init__(self, recording: tuple[dict[str, float], Clock] | None) -> None:
        self._times: dict[str, float] | None = None
        self._clock: Clock = time.perf_counter
        self._last = 0.0
        if recording is not None:
            self._times, self._clock = recording
            self._last = self._clock()

    def lap(self, name: str) -> None:
        """Charge the time since the previous lap (or the start) to `name`."""
        times = self._times
        if times is None:
            return
        now = self._clock()
        times[name] = times.get(name, 0.0) + (now - self._last)
        self._last = now


def stage_clock() -> StageClock:
    """A clock starting now, recording only inside `recording()`."""
    return StageClock(_RECORDING.get())


@contextmanager
def recording(clock: Clock = time.perf_counter) -> Iterator[dict[str, float]]:
    """Collect stage times (seconds, by stage name) of the pipeline runs inside.

    `clock` is wall time by default; `time.thread_time` gives the CPU time of
    the running thread, steadier on a busy machine (it leaves out waiting for
    the CPU and for I/O).
    """
    times: dict[str, float] = {}
    token = _RECORDING.set((times, clock))
    try:
        yield times
    finally:
        _RECORDING.reset(token)
