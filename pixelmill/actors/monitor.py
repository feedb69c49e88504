"""The Monitor: psutil samples at an interval, a bounded history, threshold events."""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psutil
import pykka

from pixelmill.actors._tell import tell_if_alive
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.thresholds import DEFAULT_THRESHOLDS, Threshold, ThresholdWatch
from pixelmill.messages import (
    GetMetrics,
    Metrics,
    Sample,
    Subscribe,
    ThresholdCrossed,
    WatchDisk,
)

__all__ = ["Monitor", "Sampler", "sample_process_tree"]

Sampler = Callable[[Sequence[str]], Sample]
"""Takes one reading, given the watched dirs; injected so tests feed known values."""


def sample_process_tree(directories: Sequence[str] = (), process: psutil.Process | None = None
                        ) -> Sample:
    """Read CPU, memory, disk and the resident memory of this process and its children."""
    process = process or psutil.Process(os.getpid())
    rss = read = written = 0
    count = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            rss += member.memory_info().rss
            io = member.io_counters()
            read, written = read + io.read_bytes, written + io.write_bytes
            count += 1
        except (psutil.Error, AttributeError):
            continue  # it exited between listing and reading
    memory = psutil.virtual_memory()
    disks = []
    for directory in directories:
        try:
            disks.append((directory, shutil.disk_usage(directory).free / 2**20))
        except OSError:
            continue  # not created yet, or gone: the Exporter reports that
    return Sample(
        time=time.time(),
        cpu_percent=psutil.cpu_percent(interval=None),
        rss_mb=rss / 2**20,
        available_mb=memory.available / 2**20,
        memory_percent=memory.percent,
        processes=count,
        disk_free_mb=tuple(disks),
        read_mb=read / 2**20,
        written_mb=written / 2**20,
    )


class _Tick:
    """Time for the next sample (sent by the Timer to the Monitor itself)."""

    __slots__ = ()


class Monitor(Actor):
    """Samples at `interval_s`, keeps the last `history` samples, publishes crossings.

    Sampling is driven by the runtime's Timer, never by sleeping in the
    actor, so the Monitor always answers `GetMetrics` promptly. A Monitor that
    replaces a dead one starts with no history and no subscriber: the
    subscribers and the JobManager (for the disks it watches) send theirs again. Threshold
    events go to every subscriber and to the ResourceManager, which shrinks
    its budget under memory pressure; the Monitor never acts on them itself.
    """

    actor_role = Role.MONITOR

    def __init__(
        self,
        context: ActorContext,
        *,
        interval_s: float = 1.0,
        history: int = 600,
        sampler: Sampler = sample_process_tree,
        thresholds: Mapping[str, Threshold] = DEFAULT_THRESHOLDS,
    ) -> None:
        super().__init__(context)
        self._interval_s = interval_s
        self._history: deque[Sample] = deque(maxlen=history)
        self._sampler = sampler
        self._watch = ThresholdWatch(thresholds)
        self._directories: list[str] = []
        self._subscribers: list[tuple[pykka.ActorRef[Any], bool]] = []
        self._crossed: dict[str, ThresholdCrossed] = {}
        """The crossings not cleared yet, by name."""

    def on_start(self) -> None:
        """Takes the first sample in the Monitor's thread and schedules the next."""
        self._take_sample()

    def handle(self, message: Any) -> Any:
        match message:
            case _Tick():
                self._take_sample()
            case GetMetrics(reply_to=reply_to):
                latest = self._history[-1] if self._history else None
                metrics = Metrics(
                    latest=latest,
                    history=tuple(self._history),
                    interval_s=self._interval_s,
                    active=tuple(sorted(self._watch.active)),
                )
                return self.reply(reply_to, metrics)
            case Subscribe(ref=ref, samples=samples):
                self._subscribers.append((ref, samples))
                for crossed in self._crossed.values():  # what holds now, for a late comer
                    tell_if_alive(ref, crossed)
            case WatchDisk(directory=directory) if directory not in self._directories:
                self._directories.append(directory)
            case WatchDisk():
                pass
            case _:
                return super().handle(message)
        return None

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        # A new ResourceManager starts with its whole budget: tell it of the
        # pressure it must still shrink for.
        pressure = self._crossed.get("memory")
        if role == Role.RESOURCE_MANAGER and pressure is not None and not held:
            return [pressure]
        return held

    def _take_sample(self) -> None:
        sample = self._sampler(tuple(self._directories))
        self._history.append(sample)
        events = self._watch.observe(sample)
        for event in events:
            # A busy CPU is what a batch is for: worth a record, not a warning.
            log = self.actor_log.info if event.name == "cpu" else self.actor_log.warning
            log(
                "threshold.crossed" if isinstance(event, ThresholdCrossed) else "threshold.cleared",
                name=event.name, value=round(event.value, 1), threshold=event.level,
            )
            if isinstance(event, ThresholdCrossed):
                self._crossed[event.name] = event
            else:
                self._crossed.pop(event.name, None)
            if event.name == "memory":
                self.send(Role.RESOURCE_MANAGER, event)
        for ref, samples in list(self._subscribers):
            for message in ([sample] if samples else []) + events:
                if not tell_if_alive(ref, message):
                    self._subscribers.remove((ref, samples))
                    break
        self.actor_timer.tell_later(self._interval_s, self.actor_ref, _Tick())

