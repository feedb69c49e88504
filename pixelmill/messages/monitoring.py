"""The monitoring protocol: psutil samples from the Monitor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.messages._base import message

if TYPE_CHECKING:
    from pykka import ActorRef

__all__ = ["GetMetrics", "Metrics", "Sample"]


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
    processes: int
    """This process and its live children."""


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
