"""The JobManager: jobs and their items, the priority queue across jobs, progress, outcomes."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pixelmill.actors._inputs import expand_inputs
from pixelmill.actors._item_flow import BATCH_MAX, ItemFlow
from pixelmill.actors._job_ending import JobEnding
from pixelmill.actors._job_state import Item, Job, RetryDue
from pixelmill.actors._lease_book import LeaseBook
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.journal import Journal
from pixelmill.errors import PixelmillError
from pixelmill.messages import (
    AbortJob,
    BatchDone,
    CancelJob,
    DecideRecovery,
    Degrade,
    ExportClosed,
    ExportFailed,
    ExportRecords,
    Fail,
    GetProgress,
    ItemDone,
    ItemFailed,
    ItemStatus,
    JobAccepted,
    JobStatus,
    LeaseGranted,
    OpenExport,
    RecordsExported,
    Retry,
    RuntimeBroken,
    Skip,
    SubmitJob,
    WatchDisk,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["JobManager"]

_FLUSH_EVERY_S = 1.0
"""The store batches writes; a slow trickle of outcomes still reaches it this often."""
_REPLAY_BATCH = 200


class _Flush:
    """Time to flush the store's batch (sent by the Timer to the JobManager itself)."""

    __slots__ = ()


class JobManager(ItemFlow, JobEnding, Actor):
    """Runs jobs: expands inputs lazily, leases, dispatches, records each outcome.

    Across jobs, work goes to the most urgent job first and FIFO among equals.
    Each job keeps at most `window` lease requests outstanding, and reads
    at most `LOOKAHEAD` inputs ahead of them, so a job of 100,000 files
    holds a few items in memory, not 100,000 messages; the ResourceManager
    orders the requests of all jobs by priority, then age. Within a job the
    costliest items go first, and up to `batch_max` small ones share a lease
    and a `ProcessBatch` (see `ItemFlow`). Results whose attempt is no longer
    current (a re-sent item) are ignored, so an item's outcome is recorded
    exactly once.
    """

    actor_role = Role.JOB_MANAGER

    def __init__(
        self,
        context: ActorContext,
        *,
        window: int = 4,
        batch_max: int = BATCH_MAX,
        admission_control: bool = True,
        journal: Path | None = None,
    ) -> None:
        super().__init__(context)
        self._window = max(1, window)
        self._batch_max = max(1, batch_max)
        self._admission_control = admission_control
        self._journal = Journal(journal, on_error=self._journal_failed)
        self._jobs: dict[str, Job] = {}
        self._leases = LeaseBook()
        self._seq = itertools.count()

    def on_start(self) -> None:
        """Opens the job store in this actor's thread, which alone writes it."""
        self._journal.open()
        self.actor_timer.tell_later(_FLUSH_EVERY_S, self.actor_ref, _Flush())

    def on_stop(self) -> None:
        """Marks unfinished jobs interrupted (resumable) and closes the store."""
        self._journal.close(unfinished=list(self._jobs))

    def on_failure(self, *exc_info: Any) -> None:
        self._journal.close(unfinished=list(self._jobs))
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case SubmitJob():
                return self._submit(message)
            case _Flush():
                self._journal.flush()
                self.actor_timer.tell_later(_FLUSH_EVERY_S, self.actor_ref, _Flush())
            case RecordsExported(job_id=job_id):
                job = self._jobs.get(job_id)
                if job is not None:
                    self._replay_more(job)
            case LeaseGranted(lease_id=lease_id):
                self._granted(lease_id)
            case ItemDone() | ItemFailed():
                self._returned(message)
            case BatchDone(outcomes=outcomes):
                for outcome in outcomes:
                    self._returned(outcome, from_batch=True)
            case Retry() | Degrade() | Skip() | Fail() | AbortJob():
                self._decided(message)
            case RuntimeBroken(reason=reason, message=text):
                for job in list(self._jobs.values()):
                    self._stop_job(job, JobStatus.ABORTED, reason, text)
            case RetryDue(job_id=job_id, index=index):
                self._retry_due(job_id, index)
            case CancelJob(job_id=job_id, abandon=abandon):
                job = self._jobs.get(job_id)
                if job is not None:
                    self._stop_job(
                        job, JobStatus.CANCELLED, "job.cancelled", "cancelled by the host"
                    )
                    if abandon:
                        self._abandon(job)
            case GetProgress(job_id=job_id, reply_to=reply_to):
                job = self._jobs.get(job_id)
                return self.reply(reply_to, self._progress(job) if job else None)
            case ExportClosed():
                self._export_closed(message)
            case ExportFailed(job_id=job_id, reason=reason, message=text):
                job = self._jobs.get(job_id)
                if job is not None:
                    self._stop_job(job, JobStatus.ABORTED, reason, text)
            case _:
                return super().handle(message)
        self._pump()
        return None

    # -- jobs -------------------------------------------------------------

    def _submit(self, request: SubmitJob) -> JobAccepted:
        order = request.order
        job = Job(
            order=order,
            listener=request.listener,
            seq=next(self._seq),
            inputs=expand_inputs(order.inputs, order.exclude_dirs),
            pipeline=order.pipeline.validate(),
        )
        self._jobs[order.job_id] = job
        if request.resume:
            job.prior = self._journal.prior(order.job_id)
            job.replay = self._journal.replay(order.job_id)
        self._journal.job_started(order)
        self._open_export(job, resume=False)
        if job.replay is not None:
            self._replay_more(job)
        self.actor_log.info(
            "job.submitted",
            job_id=order.job_id,
            name=order.name,
            priority=order.priority.name,
            inputs=len(order.inputs),
        )
        self._pump()
        return self.reply(request.reply_to, JobAccepted(job_id=order.job_id))

    def _open_export(self, job: Job, *, resume: bool) -> None:
        order = job.order
        self.send(
            Role.EXPORTER,
            OpenExport(
                job_id=order.job_id,
                export_dir=order.export_dir,
                analyses=order.pipeline.analyses,
                resume=resume,
                charts=order.charts,
                reply_to=self.actor_ref,
            ),
        )
        self.send(Role.MONITOR, WatchDisk(directory=str(order.export_dir)))

    def _item_failed(
        self, job: Job, item: Item, reason: str, message: str, *, worker: int | None
    ) -> None:
        self.actor_log.warning(
            "item.failed",
            job_id=job.job_id,
            item=str(item.input.path),
            attempt=item.attempt,
            reason=reason,
            error=message,
            worker=worker,
        )
        job.deciding[item.index] = item
        self._journal.attempt_failed(job.job_id, item.index, item.attempt, reason, message)
        self.send(
            Role.SUPERVISOR,
            DecideRecovery(
                job_id=job.job_id,
                index=item.index,
                reason=reason,
                message=message,
                attempt=item.attempt,
                reply_to=self.actor_ref,
            ),
        )

    def _decided(self, decision: Retry | Degrade | Skip | Fail | AbortJob) -> None:
        job = self._jobs.get(decision.job_id)
        item = job.deciding.pop(decision.index, None) if job else None
        if job is None or item is None:
            return
        match decision:
            case Retry(after_s=after_s) if job.stopping is None:
                item.attempt += 1
                job.retrying[item.index] = item
                self.actor_log.info(
                    "item.retry", job_id=job.job_id, item=str(item.input.path),
                    attempt=item.attempt, after_s=round(after_s, 3),
                )
                self.actor_timer.tell_later(
                    after_s, self.actor_ref, RetryDue(job_id=job.job_id, index=item.index)
                )
            case Degrade(reduce=reduce) if job.stopping is None:
                item.attempt += 1
                item.reduce = reduce
                self.actor_log.info(
                    "item.degraded", job_id=job.job_id, item=str(item.input.path),
                    attempt=item.attempt, reduce=reduce,
                )
                job.ready.appendleft(item)
            case Retry() | Degrade():
                self._finish_stopped(job, item)
            case Skip(reason=reason, message=text):
                self._finish_item(job, item, ItemStatus.SKIPPED, reason=reason, message=text)
            case Fail(reason=reason, message=text):
                self._finish_item(job, item, ItemStatus.FAILED, reason=reason, message=text)
            case AbortJob(reason=reason, message=text):
                self._finish_item(job, item, ItemStatus.FAILED, reason=reason, message=text)
                self._stop_job(job, JobStatus.ABORTED, reason, text)

    def _retry_due(self, job_id: str, index: int) -> None:
        job = self._jobs.get(job_id)
        item = job.retrying.pop(index, None) if job else None
        if job is not None and item is not None:
            if job.stopping is None:
                job.ready.appendleft(item)
            else:
                self._finish_stopped(job, item)

    def _replay_more(self, job: Job) -> None:
        """Send the next batch of an earlier run's records to the Exporter."""
        assert job.replay is not None
        batch = tuple(itertools.islice(job.replay, _REPLAY_BATCH))
        if not batch:
            job.replay = None
            return
        self.send(
            Role.EXPORTER,
            ExportRecords(job_id=job.job_id, records=batch, reply_to=self.actor_ref),
        )

    def _journal_failed(self, job_id: str, error: PixelmillError) -> None:
        self.actor_log.error("journal.failed", job_id=job_id, reason=error.reason, error=str(error))
        targets = [self._jobs[job_id]] if job_id in self._jobs else list(self._jobs.values())
        for job in targets:
            self._stop_job(job, JobStatus.ABORTED, error.reason, f"the job store failed: {error}")

    # -- recovery of peers ------------------------------------------------

    def on_peer_restarted(self, role: str) -> None:
        """Re-send what a replaced peer held, so no item is lost (runs in this thread).

        Called before the messages held for the peer while it was down are
        delivered, so a re-opened export comes before its held rows.
        """
        for job in self._jobs.values():
            if role == Role.PROCESSOR_POOL:
                self._redispatch(job)
            elif role == Role.RESOURCE_MANAGER:
                # So that the new ResourceManager's budget counts what really runs.
                self._rerequest(job)
            elif role == Role.EXPORTER and not job.closing:
                self._open_export(job, resume=True)
