"""How the JobManager ends items and jobs: outcomes, stops, progress, the export's close."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from pixelmill.actors.base import Role
from pixelmill.messages import (
    AbandonJob,
    CloseExport,
    ExportClosed,
    ExportItem,
    ItemFinished,
    ItemStatus,
    JobFinished,
    JobProgress,
    JobStatus,
)

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

    from pixelmill.actors._job_state import Item, Job
    from pixelmill.actors.journal import Journal
    from pixelmill.imaging.pipeline import ItemResult

__all__ = ["JobEnding"]


class JobEnding:
    """The JobManager's half that settles: every item ends once, every job closes once.

    A mixin of `JobManager` only, split out to keep each module to one idea;
    it runs in the JobManager's thread like the rest.
    """

    _jobs: dict[str, Job]
    _journal: Journal
    actor_log: FilteringBoundLogger
    actor_ref: Any

    if TYPE_CHECKING:  # provided by JobManager and its Actor base

        def send(self, role: str, message: Any) -> None: ...

        def reply(self, reply_to: Any, answer: Any) -> Any: ...

        def _release(self, job: Job, item: Item) -> None: ...

    def _stop_job(self, job: Job, status: JobStatus, reason: str, message: str) -> None:
        """Stop dispatching; what has not started ends now, what runs may finish."""
        if job.stopping is not None or job.closing:
            return
        job.stopping, job.reason, job.message = status, reason, message
        self.actor_log.warning("job.stopping", job_id=job.job_id, status=status, reason=reason)
        for item in [*job.waiting.values(), *job.ready, *job.retrying.values()]:
            self._release(job, item)
            self._finish_stopped(job, item)
        job.waiting.clear()
        job.ready.clear()
        job.retrying.clear()
        while (item := self._next_item(job)) is not None:
            self._finish_stopped(job, item)

    def _abandon(self, job: Job) -> None:
        """Settle the running items as cancelled now; their results will be stale."""
        self.send(Role.PROCESSOR_POOL, AbandonJob(job_id=job.job_id))
        for item in list(job.running.values()):
            del job.running[item.index]
            self._release(job, item)
            self._finish_stopped(job, item)

    def _finish_stopped(self, job: Job, item: Item) -> None:
        status = ItemStatus.CANCELLED if job.stopping is JobStatus.CANCELLED else ItemStatus.SKIPPED
        text = f"not run: the job was {job.stopping}"
        self._finish_item(job, item, status, reason=job.reason, message=text)

    def _finish_item(
        self,
        job: Job,
        item: Item,
        status: ItemStatus,
        *,
        reason: str | None = None,
        message: str | None = None,
        result: ItemResult | None = None,
    ) -> None:
        job.counts[status] = job.counts.get(status, 0) + 1
        duration_ms = (time.monotonic() - item.started) * 1000 if item.started else 0.0
        finished = ItemFinished(
            job_id=job.job_id,
            index=item.index,
            path=str(item.input.path),
            status=status,
            reason=reason,
            message=message,
            attempts=item.attempt if item.started or status is not ItemStatus.CANCELLED else 0,
            result=result,
            duration_ms=result.total_ms if result is not None else duration_ms,
        )
        if status is ItemStatus.DONE:
            self.actor_log.info(
                "item.done", job_id=job.job_id, item=finished.path, attempt=item.attempt,
                duration_ms=round(finished.duration_ms, 1),
            )
        self._journal.item_finished(finished)
        self.send(Role.EXPORTER, ExportItem(item=finished))
        if job.listener is not None:
            self.reply(job.listener, finished)
            self.reply(job.listener, self._progress(job))

    def _progress(self, job: Job) -> JobProgress:
        return JobProgress(
            job_id=job.job_id,
            status=job.stopping if job.stopping and job.idle() else JobStatus.RUNNING,
            counts=job.job_counts(),
            expanded=job.expanded,
            running=len(job.running),
            elapsed_s=time.monotonic() - job.started,
        )

    def _close(self, job: Job) -> None:
        job.closing = True
        job.summary = JobFinished(
            job_id=job.job_id,
            name=job.order.name,
            status=job.stopping or JobStatus.COMPLETED,
            counts=job.job_counts(),
            reason=job.reason if job.stopping else None,
            message=job.message if job.stopping else None,
            started_at=job.started_wall,
            duration_s=time.monotonic() - job.started,
        )
        self.send(Role.EXPORTER, CloseExport(summary=job.summary, reply_to=self.actor_ref))

    def _export_closed(self, closed: ExportClosed) -> None:
        job = self._jobs.pop(closed.job_id, None)
        if job is None or job.summary is None:
            return
        summary = job.summary
        if closed.reason is not None:
            summary = dataclasses.replace(
                summary, status=JobStatus.ABORTED, reason=closed.reason, message=closed.message
            )
        summary = dataclasses.replace(summary, export_files=closed.files)
        self._journal.job_finished(summary)
        self.actor_log.info(
            "job.finished",
            job_id=job.job_id,
            status=summary.status.value,
            reason=summary.reason,
            duration_ms=round(summary.duration_s * 1000, 1),
            **summary.counts.as_dict(),
        )
        if job.listener is not None:
            self.reply(job.listener, summary)
