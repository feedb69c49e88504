"""Telling a worker killed for memory from one that crashed: its RSS, and the kernel's count.

A worker's address-space cap (`WorkerSettings.memory_mb`) turns most memory
failures into a `MemoryError` inside the item. Two kinds come as a bare
SIGKILL instead: the kernel's OOM killer (the machine, or its cgroup, ran out
before the cap did) and a supervisor that kills a worker near its cap (Ray's
memory monitor, an operator's tool). This module gathers what tells them
apart afterwards: the worker's resident memory, sampled while an item runs,
and the kernel's count of OOM kills (`oom_kill` in /proc/vmstat, Linux 4.13+,
which counts a cgroup's OOM kills too).
"""

from __future__ import annotations

import psutil

__all__ = ["NEAR_CAP", "MemoryWatch", "oom_kills"]

NEAR_CAP = 0.8
"""A worker whose RSS beyond its idle RSS reached this share of its cap was near it."""
_MIB = 1 << 20


def oom_kills() -> int | None:
    """The kernel's count of OOM kills since boot, or None where it is not kept."""
    try:
        with open("/proc/vmstat", encoding="ascii") as vmstat:
            for line in vmstat:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryWatch:
    """One worker's resident memory: at idle, and its peak during the current item.

    Args:
        pid: The worker process.
        cap_mb: Its cap beyond its idle footprint (`WorkerSettings.memory_mb`), or None.
    """

    def __init__(self, pid: int, cap_mb: int | None) -> None:
        self._process: psutil.Process | None
        try:
            self._process = psutil.Process(pid)
        except psutil.Error:
            self._process = None
        self.cap_mb = cap_mb
        self.idle_mb = self._rss_mb() or 0.0
        self.peak_mb = 0.0
        """The largest RSS seen during the current item, beyond `idle_mb`."""
        self._oom_kills = oom_kills()

    def start_item(self) -> None:
        """A new item starts: forget the last one's peak and OOM count."""
        self.peak_mb = 0.0
        self._oom_kills = oom_kills()
        self.sample()

    def sample(self) -> float:
        """Sample the RSS now; returns it in MiB beyond idle (0 once the worker is gone)."""
        rss = self._rss_mb()
        beyond = 0.0 if rss is None else max(0.0, rss - self.idle_mb)
        self.peak_mb = max(self.peak_mb, beyond)
        return beyond

    def near_cap(self) -> bool:
        """The item's peak came within `NEAR_CAP` of the worker's cap."""
        return self.cap_mb is not None and self.peak_mb >= NEAR_CAP * self.cap_mb

    def oom_killed(self) -> bool:
        """The kernel's OOM killer has killed some process since the item started."""
        before, now = self._oom_kills, oom_kills()
        return before is not None and now is not None and now > before

    def _rss_mb(self) -> float | None:
        if self._process is None:
            return None
        try:
            return float(self._process.memory_info().rss) / _MIB
        except psutil.Error:
            return None
