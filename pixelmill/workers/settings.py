"""How each worker is confined, and where it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixelmill.workers.faults import FaultPlan

__all__ = ["BACKENDS", "WorkerSettings"]

BACKENDS = ("local", "ray")
"""The values of `WorkerSettings.backend` (see `workers.backend.start_worker`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """How each worker process is confined."""

    item_timeout_s: float = 120.0
    """An item still running after this is `worker.timeout`; its worker is killed."""
    memory_mb: int | None = 4096
    """Address space (MiB) the worker may map beyond its idle baseline (an
    RLIMIT_AS); past it allocations fail with MemoryError, which degrades the
    item instead of the machine."""
    min_free_mb: int = 100
    """An item is not written when its output dir's disk has less free than this."""
    faults: FaultPlan | None = None
    backend: str = "local"
    """`local`: worker processes on this machine; `ray`: Ray actors on a cluster."""
