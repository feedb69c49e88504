"""The JobManager's `job.progress` records: where each running job is, every few seconds."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pixelmill.actors.job_lifecycle import Job

__all__ = ["PROGRESS_EVERY_S", "RATE_WINDOW_S", "ProgressLog"]

PROGRESS_EVERY_S = 5.0
"""How often each running job gets a `job.progress` record."""
RATE_WINDOW_S = 30.0
"""The rate is over about this much of the recent past: it follows a job that
speeds up or slows down, and a resumed job's carried-over items drop out of it."""


class ProgressLog:
    """Says, when asked on the JobManager's tick, which `job.progress` records are due.

    So that an operator tailing a headless run's JSON log sees where each job
    is: `finished` of `total` (`expanded`: the total is final), each outcome
    apart, `running`, `rate` (items per second over the last
    `RATE_WINDOW_S`) and `eta_s` (None until the total is final and items
    finish). Runs in the JobManager's thread, like the jobs it reads.
    """

    def __init__(
        self, every_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self._clock = clock
        self._last = clock()
        self._samples: dict[str, deque[tuple[float, int]]] = {}
        """Per job, (time, finished) at its recent records, oldest first."""

    def due(self, jobs: Mapping[str, Job]) -> list[dict[str, Any]]:
        """The records to log now, one per job, or none before `every_s` has passed."""
        now = self._clock()
        if now - self._last < self._every_s:
            return []
        self._last = now
        for gone in self._samples.keys() - jobs.keys():
            del self._samples[gone]
        return [self._record(job_id, job, now) for job_id, job in jobs.items()]

    def _record(self, job_id: str, job: Job, now: float) -> dict[str, Any]:
        progress = job.progress()
        counts = progress.counts
        samples = self._samples.setdefault(job_id, deque())
        while samples and now - samples[0][0] > RATE_WINDOW_S:
            samples.popleft()
        if samples:
            since, finished_then = samples[0]
            rate = (counts.finished - finished_then) / (now - since) if now > since else 0.0
        else:  # its first record: the rate since it started
            rate = counts.finished / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        samples.append((now, counts.finished))
        left = counts.total - counts.finished
        eta_s = round(left / rate) if progress.expanded and rate > 0 else None
        return {
            "job_id": job_id,
            "finished": counts.finished,
            "total": counts.total,
            "expanded": progress.expanded,
            **{k: v for k, v in counts.as_dict().items() if k != "total"},
            "running": progress.running,
            "rate": round(rate, 2),
            "eta_s": eta_s,
            "elapsed_s": round(progress.elapsed_s, 1),
        }
