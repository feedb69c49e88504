"""The JobManager: jobs and their items, the priority queue across jobs, progress, outcomes."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from pixelmill.actors._inputs import expand_inputs
from pixelmill.actors._job_ending import JobEnding
from pixelmill.actors._job_state import Item, Job, RetryDue
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.journal import Journal
from pixelmill.errors import PixelmillError
from pixelmill.imaging.pipeline import OutputTarget, estimate_memory_mb
from pixelmill.imaging.safe_open import probe
from pixelmill.messages import (
    AbortJob,
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
    Process,
    RecordsExported,
    ReleaseLease,
    RequestLease,
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


class JobManager(JobEnding, Actor):
    """Runs jobs: expands inputs lazily, leases, dispatches, records each outcome.

    Across jobs, work goes to the most urgent job first and FIFO among equals.
    Each job keeps at most `window` lease requests outstanding, so a job of
    100,000 files holds a few items in memory, not 100,000 messages; the
    ResourceManager orders the requests of all jobs by priority, then age.
    Results whose attempt is no longer current (a re-sent item) are ignored,
    so an item's outcome is recorded exactly once.
    """

    actor_role = Role.JOB_MANAGER

    def __init__(
        self,
        context: ActorContext,
        *,
        window: int = 4,
        admission_control: bool = True,
        journal: Path | None = None,
    ) -> None:
        super().__init__(context)
        self._window = max(1, window)
        self._admission_control = admission_control
        self._journal = Journal(journal, on_error=self._journal_failed)
        self._jobs: dict[str, Job] = {}
        self._leases: dict[str, tuple[str, int]] = {}
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

    def _pump(self) -> None:
        for job in sorted(self._jobs.values(), key=lambda j: (j.order.priority, j.seq)):
            while job.stopping is None and len(job.waiting) < self._window:
                item = self._next_item(job)
                if item is None:
                    break
                self._request_lease(job, item)
            if job.expanded and job.idle() and not job.closing:
                self._close(job)

    def _next_item(self, job: Job) -> Item | None:
        if job.ready:
            return job.ready.popleft()
        if job.expanded:
            return None
        while (found := next(job.inputs, None)) is not None:
            item = Item(index=job.next_index, input=found)
            job.next_index += 1
            done_before = job.prior.get(str(found.path))
            if done_before is None:
                return item
            # Finished by an earlier run: counted, and re-exported by the replay.
            job.counts[done_before] = job.counts.get(done_before, 0) + 1
        job.expanded = True
        return None

    def _request_lease(self, job: Job, item: Item) -> None:
        try:
            header = probe(item.input.path)
        except PixelmillError as exc:
            # The header alone shows the input is bad: no need to use a worker.
            self._item_failed(job, item, exc.reason, str(exc), worker=None)
            return
        item.memory_mb = estimate_memory_mb(header, job.order.pipeline, reduce=item.reduce)
        job.waiting[item.index] = item
        self._leases[job.lease_id(item)] = (job.job_id, item.index)
        self._send_lease_request(job, item)

    def _send_lease_request(self, job: Job, item: Item) -> None:
        self.send(
            Role.RESOURCE_MANAGER,
            RequestLease(
                lease_id=job.lease_id(item),
                # Without admission control only the CPU slots bound the work.
                memory_mb=item.memory_mb if self._admission_control else 0,
                cpu_slots=1,
                priority=int(job.order.priority),
                reply_to=self.actor_ref,
            ),
        )

    def _release(self, job: Job, item: Item) -> None:
        lease_id = job.lease_id(item)
        if self._leases.pop(lease_id, None) is not None:
            self.send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id))

    def _granted(self, lease_id: str) -> None:
        owner = self._leases.get(lease_id)
        job = self._jobs.get(owner[0]) if owner else None
        if job is not None and owner is not None and owner[1] in job.running:
            return  # a running item's lease, re-granted by a restarted ResourceManager
        item = job.waiting.pop(owner[1], None) if job and owner else None
        if job is None or item is None:
            self._leases.pop(lease_id, None)
            self.send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id))
            return
        job.running[item.index] = item
        item.started = item.started or time.monotonic()
        self._dispatch(job, item)

    def _dispatch(self, job: Job, item: Item) -> None:
        order = job.order
        target = OutputTarget(
            output_dir=order.output_dir, stem=item.input.stem, rel_dir=item.input.rel_dir
        )
        self.send(
            Role.PROCESSOR_POOL,
            Process(
                job_id=job.job_id,
                index=item.index,
                path=item.input.path,
                pipeline=order.pipeline,
                target=target,
                attempt=item.attempt,
                reduce=item.reduce,
                plugins=order.plugins,
                reply_to=self.actor_ref,
            ),
        )

    def _returned(self, message: ItemDone | ItemFailed) -> None:
        job = self._jobs.get(message.job_id)
        item = job.running.get(message.index) if job else None
        if job is None or item is None or item.attempt != message.attempt:
            self.actor_log.info("item.stale_result", job_id=message.job_id, index=message.index)
            return
        del job.running[item.index]
        self._release(job, item)
        if isinstance(message, ItemDone):
            self._finish_item(job, item, ItemStatus.DONE, result=message.result)
            return
        self._item_failed(job, item, message.reason, message.message, worker=message.worker)

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
                for item in job.running.values():
                    self._dispatch(job, item)
            elif role == Role.RESOURCE_MANAGER:
                # The new ResourceManager knows no lease: ask again for each one
                # held or awaited, so the budget counts what really runs.
                for item in [*job.running.values(), *job.waiting.values()]:
                    self._send_lease_request(job, item)
            elif role == Role.EXPORTER and not job.closing:
                self._open_export(job, resume=True)
