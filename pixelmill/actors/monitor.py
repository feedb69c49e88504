"""The Monitor: psutil samples at an interval into a bounded history."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psutil

from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.messages import GetMetrics, Metrics, Sample

__all__ = ["Monitor", "Sampler", "sample_process_tree"]

Sampler = Callable[[], Sample]
"""Takes one reading; injected so tests can feed the Monitor known values."""


def sample_process_tree(process: psutil.Process | None = None) -> Sample:
    """Read CPU, memory and the resident memory of a process and its children."""
    process = process or psutil.Process(os.getpid())
    rss = 0
    count = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            rss += member.memory_info().rss
            count += 1
        except psutil.Error:
            continue  # it exited between listing and reading
    return Sample(
        time=time.time(),
        cpu_percent=psutil.cpu_percent(interval=None),
        rss_mb=rss / 2**20,
        available_mb=psutil.virtual_memory().available / 2**20,
        processes=count,
    )


class _Tick:
    """Time for the next sample (sent by the Timer to the Monitor itself)."""

    __slots__ = ()


class Monitor(Actor):
    """Samples at `interval_s` and keeps the last `history` samples.

    Sampling is driven by the runtime's Timer, never by sleeping in the
    actor, so the Monitor always answers `GetMetrics` promptly.
    """

    actor_role = Role.MONITOR

    def __init__(
        self,
        context: ActorContext,
        *,
        interval_s: float = 1.0,
        history: int = 600,
        sampler: Sampler = sample_process_tree,
    ) -> None:
        super().__init__(context)
        self._interval_s = interval_s
        self._history: deque[Sample] = deque(maxlen=history)
        self._sampler = sampler

    def on_start(self) -> None:
        """Takes the first sample in the Monitor's thread and schedules the next."""
        self._take_sample()

    def handle(self, message: Any) -> Any:
        match message:
            case _Tick():
                self._take_sample()
                return None
            case GetMetrics(reply_to=reply_to):
                latest = self._history[-1] if self._history else None
                metrics = Metrics(
                    latest=latest, history=tuple(self._history), interval_s=self._interval_s
                )
                return self.reply(reply_to, metrics)
            case _:
                return super().handle(message)

    def _take_sample(self) -> None:
        self._history.append(self._sampler())
        self.actor_timer.tell_later(self._interval_s, self.actor_ref, _Tick())
