"""The monitoring protocol: psutil samples and threshold events from the Monitor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pykka import ActorRef

__all__ = [
    "GetMetrics",
    "Metrics",
    "Sample",
    "Subscribe",
    "ThresholdCleared",
    "ThresholdCrossed",
    "WatchDisk",
]


@message
class Sample:
    """One reading of the machine and of the runtime's process tree."""

    time: float
    """Seconds since the epoch."""
    cpu_percent: float
    """System-wide CPU use since the previous sample, 0-100."""
    rss_mb: float
    """Resident memory of this process and its worker processes."""
    available_mb: float
    """Memory the system can still give without swapping."""
    memory_percent: float
    """System memory in use, 0-100."""
    processes: int
    """This process and its live children."""
    disk_free_mb: tuple[tuple[str, float], ...] = ()
    """Free space of each watched directory's file system, as (dir, MiB)."""
    read_mb: float = 0.0
    """Bytes read by the process tree since the Monitor started, in MiB."""
    written_mb: float = 0.0


@message
class GetMetrics:
    """Ask for the Monitor's `Metrics`."""

    reply_to: ActorRef[Any] | None = None


@message
class Metrics:
    """The latest sample and the bounded history, oldest first."""

    latest: Sample | None
    history: tuple[Sample, ...]
    interval_s: float
    active: tuple[str, ...] = ()
    """Names of the thresholds crossed and not yet cleared."""


@message
class Subscribe:
    """Send every `Sample`, `ThresholdCrossed` and `ThresholdCleared` to `ref`."""

    ref: ActorRef[Any]
    samples: bool = True
    """False to receive only threshold events."""


@message
class WatchDisk:
    """Sample the free space of `directory`'s file system from now on."""

    directory: str


@message
class ThresholdCrossed:
    """A metric went past its threshold (and stays crossed until it clears)."""

    name: str
    """`memory`, `cpu` or `disk:<dir>`."""
    value: float
    level: float
    time: float


@message
class ThresholdCleared:
    """A crossed metric came back past its clearing level (hysteresis)."""

    name: str
    value: float
    level: float
    time: float
