"""The JobManager: jobs and their items, the priority queue across jobs, the job store."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pixelmill.actors._inputs import Ignored, expand_inputs
from pixelmill.actors._progress_log import ProgressLog
from pixelmill.actors._result_cache import ResultCache
from pixelmill.actors.base import Actor, ActorContext, Role
from pixelmill.actors.job_events import (
    LISTENER,
    CacheLooked,
    InputsRead,
    Later,
    Log,
    LookupCache,
    PeerRestarted,
    ReadInputs,
    RecordCache,
    RecordFinish,
    RecordItem,
    RecordRun,
    Replay,
    ReplayDone,
    RetryDue,
    Send,
    StopJob,
)
from pixelmill.actors.job_lifecycle import BATCH_MAX, Job
from pixelmill.actors.journal import Journal, stored_order
from pixelmill.errors import BusyJobError, PixelmillError
from pixelmill.messages import (
    AbortJob,
    BatchDone,
    CancelJob,
    Degrade,
    ExportClosed,
    ExportFailed,
    ExportItem,
    ExportRecords,
    Fail,
    HeadersRead,
    ItemDone,
    ItemFailed,
    JobAccepted,
    JobCounts,
    JobFinished,
    JobRefused,
    JobStatus,
    LeaseGranted,
    RecordsExported,
    ReleaseLease,
    Retry,
    RuntimeBroken,
    Skip,
    SubmitJob,
)
from pixelmill.store import HEARTBEAT_EVERY_S, Owner

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pykka

    from pixelmill.actors._inputs import Input
    from pixelmill.actors.job_events import Effect
    from pixelmill.messages import ItemRecord, JobOrder
    from pixelmill.store import ItemRow

__all__ = ["JobManager"]

_FLUSH_EVERY_S = 0.5
"""The store batches writes; a slow trickle of outcomes still reaches it this often."""
_REPLAY_BATCH = 200
_REGIVEN = frozenset({
    Role.RESOURCE_MANAGER, Role.PROCESSOR_POOL, Role.EXPORTER, Role.SUPERVISOR,
})
"""Peers to which each job gives again all it had given, once they are replaced."""


class _Flush:
    """Time to flush the store's batch (sent by the Timer to the JobManager itself)."""

    __slots__ = ()


class JobManager(Actor):
    """Runs jobs: each one a pure `Job`, whose effects this actor carries out.

    It turns messages into a job's events, and the job's effects into sends,
    delayed messages, input reads (a walk and stats) and store writes. It
    reads no input's bytes: headers are probed, and bytes hashed for the
    result cache, in worker processes (`ProbeHeaders` to the pool, under the
    workers' memory cap and time limit), so a hostile file or a stalled
    mount costs its item, never this actor's thread. Across
    jobs, the ResourceManager serves lease requests by priority, then age;
    each job keeps at most `window` requests outstanding and reads at most
    `LOOKAHEAD` inputs ahead, so a job of 100,000 files holds a few items in
    memory, not 100,000 messages.

    Crash-only: everything a job needs to go on is in the job store. A
    JobManager started after one died takes up this runtime's running jobs
    from the store (matched by `owner`): finished items stay finished, the
    rest run again, the export is written afresh, and the listener's events
    go on. Without a store its jobs are lost.
    """

    actor_role = Role.JOB_MANAGER

    def __init__(
        self,
        context: ActorContext,
        *,
        owner: Owner | None = None,
        listener: pykka.ActorRef[Any] | None = None,
        window: int = 4,
        batch_max: int = BATCH_MAX,
        admission_control: bool = True,
        journal: Path | None = None,
        cache_enabled: bool = True,
        cache_max_entries: int = 1_000_000,
        verify_cache: bool = False,
        progress_every_s: float | None = None,
    ) -> None:
        super().__init__(context)
        self._owner = owner or Owner.of_this_process()
        self._listener = listener
        """Where the events of jobs taken up from the store go (the runtime's relay)."""
        self._window = max(1, window)
        self._batch_max = max(1, batch_max)
        self._admission_control = admission_control
        self._journal = Journal(journal, self._owner, on_error=self._journal_failed,
                                on_read_error=self._cache_unreadable)
        self._cache = ResultCache(self._journal, enabled=cache_enabled and journal is not None,
                                  max_entries=cache_max_entries, verify=verify_cache)
        self._fingerprints: dict[str, str | None] = {}
        self._jobs: dict[str, Job] = {}
        self._inputs: dict[str, Iterator[Input]] = {}
        self._ignored: dict[str, Ignored] = {}
        """What each job's walk has left so far; told to the job with its last inputs."""
        self._replays: dict[str, Iterator[ItemRecord]] = {}
        self._ticks = itertools.count()
        self._progress_log = ProgressLog(progress_every_s)
        """When each running job's `job.progress` record is due (every 5 s by default)."""

    def on_start(self) -> None:
        """Opens the job store in this actor's thread, which alone writes it, and takes
        up the jobs a JobManager of this runtime left running."""
        self._journal.open()
        self._recover()
        self.actor_timer.tell_later(_FLUSH_EVERY_S, self.actor_ref, _Flush())

    def on_stop(self) -> None:
        """Marks unfinished jobs interrupted (resumable) and closes the store."""
        self._journal.close(interrupted=list(self._jobs))

    def on_failure(self, *exc_info: Any) -> None:
        # What the jobs did is written before anyone hears of the death, so
        # the next JobManager takes them up from exactly there.
        self._journal.close(interrupted=[])
        super().on_failure(*exc_info)

    def handle(self, message: Any) -> Any:
        match message:
            case SubmitJob():
                return self._submit(message)
            case _Flush():
                self._flush()
            case RecordsExported(job_id=job_id):
                self._replay_more(job_id)
            case LeaseGranted(lease_id=lease_id):
                job_id = lease_id.partition("/")[0]
                if job_id in self._jobs:
                    self._event(job_id, message)
                else:  # its job is over: nobody will release it otherwise
                    self.send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id))
            case HeadersRead(job_id=job_id):
                if job_id in self._jobs:
                    self._cache.remember(message)
                    self._event(job_id, message)
            case (
                ItemDone() | ItemFailed() | BatchDone() | Retry() | Degrade() | Skip() | Fail()
                | AbortJob() | RetryDue() | CancelJob() | ExportClosed() | ExportFailed()
            ):
                self._event(message.job_id, message)
            case RuntimeBroken(reason=reason, message=text):
                for job_id in list(self._jobs):
                    self._event(job_id, StopJob(JobStatus.ABORTED, reason, text))
            case _:
                return super().handle(message)
        return None

    # -- jobs -----------------------------------------------------------------

    def _submit(self, request: SubmitJob) -> JobAccepted | JobRefused:
        order = request.order
        if order.job_id not in self._jobs:  # else: asked again after a restart
            priors: list[ItemRow] = []
            job_run = 1
            if request.resume:
                try:
                    claimed = self._journal.claim(order.job_id)
                except BusyJobError as exc:
                    refused = JobRefused(job_id=order.job_id, reason=exc.reason, message=str(exc))
                    self.reply(request.reply_to, refused)
                    return refused
                priors = self._journal.priors(order.job_id)
                job_run = claimed.runs + 1 if claimed is not None else 1
            else:
                self._journal.job_started(order)
            self._start_job(order, request.listener, priors, job_run)
        accepted = JobAccepted(job_id=order.job_id)
        self.reply(request.reply_to, accepted)
        return accepted

    def _start_job(
        self, order: JobOrder, listener: Any, priors: list[ItemRow], job_run: int,
        started_at: float | None = None,
    ) -> None:
        known = {row.path: (row.rel_dir, row.stem) for row in priors if row.stem}
        ignored = self._ignored[order.job_id] = Ignored()
        self._inputs[order.job_id] = expand_inputs(
            order.inputs, order.exclude_dirs, known, formats=order.pipeline.formats,
            include_hidden=order.include_hidden, ignored=ignored,
        )
        job = Job(
            order,
            reply_to=self.actor_ref,
            listener=listener,
            window=self._window,
            batch_max=self._batch_max,
            admission_control=self._admission_control,
            priors=priors,
            job_run=job_run,
            started_at=started_at,
            fingerprint=self._fingerprints.setdefault(order.job_id, self._cache.fingerprint(order)),
        )
        self._jobs[order.job_id] = job
        self.actor_log.info(
            "job.submitted", job_id=order.job_id, name=order.name,
            priority=order.priority.name, inputs=len(order.inputs), run=job_run,
        )
        self._carry_out(job, job.start())

    def _recover(self) -> None:
        """Take up this runtime's jobs that an earlier JobManager left running."""
        for row in self._journal.owned_jobs():
            try:
                order = stored_order(row.spec, job_id=row.job_id)
                claimed = self._journal.claim(row.job_id)
                priors = self._journal.priors(row.job_id)
            except PixelmillError as exc:
                self._give_up(row.job_id, row.name, exc)
                continue
            self.actor_log.warning("job.recovered", job_id=row.job_id, items=len(priors))
            self._start_job(order, self._listener, priors,
                            claimed.runs + 1 if claimed is not None else row.runs + 1,
                            started_at=row.run_started_at)
            job = self._jobs.get(row.job_id)
            if job is not None and self._listener is not None:
                self.reply(self._listener, job.progress())

    def _give_up(self, job_id: str, name: str, error: PixelmillError) -> None:
        """A job that cannot be taken up ends aborted, and its listener hears so."""
        self.actor_log.error("job.unrecoverable", job_id=job_id, reason=error.reason,
                             error=str(error))
        summary = JobFinished(job_id=job_id, name=name, status=JobStatus.ABORTED,
                              counts=JobCounts(), reason=error.reason,
                              message=f"could not be taken up again: {error}")
        self._journal.job_finished(summary)
        if self._listener is not None:
            self.reply(self._listener, summary)

    def _event(self, job_id: str, event: Any) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._carry_out(job, job.handle(event))

    def _carry_out(self, job: Job, effects: list[Effect]) -> None:
        """Do what the job asked, feeding it the answers of its reads and lookups."""
        while effects:
            reads: list[ReadInputs] = []
            lookups: list[LookupCache] = []
            rows: list[ItemRecord] = []  # for the Exporter: one message, not one per item
            for effect in effects:
                match effect:
                    case Send(to=Role.EXPORTER, message=ExportItem(record=record)):
                        rows.append(record)
                    case Send(to=to, message=message):
                        if to == LISTENER:
                            self.reply(job.listener, message)
                        else:
                            if to == Role.EXPORTER:
                                self._export(job.job_id, rows)  # first, in their order
                            self.send(to, message)
                    case RecordItem(row=row):
                        self._journal.record_item(row)
                    case RecordRun(row=run):
                        self._journal.record_run(run)
                    case Log(level=level, event=event, fields=fields):
                        getattr(self.actor_log, level)(event, **fields)
                    case Later(after_s=after_s, message=message):
                        self.actor_timer.tell_later(after_s, self.actor_ref, message)
                    case ReadInputs():
                        reads.append(effect)
                    case LookupCache():
                        lookups.append(effect)
                    case RecordCache():
                        self._cache.record(effect)
                    case Replay(indices=indices):
                        self._replays[job.job_id] = self._journal.replay(job.job_id, indices)
                        self._replay_more(job.job_id)
                    case RecordFinish(summary=summary):
                        self._journal.job_finished(summary)
                        self._cache.trim()
            self._export(job.job_id, rows)
            effects = []
            for read in reads:
                effects += job.handle(self._read(job, read.count))
            if lookups:
                fingerprint = self._fingerprints[job.job_id]
                assert fingerprint is not None
                answers = self._cache.look_up(fingerprint, lookups)
                effects += job.handle(CacheLooked(tuple(answers)))
        if job.finished is not None:
            self._jobs.pop(job.job_id, None)
            self._inputs.pop(job.job_id, None)
            self._ignored.pop(job.job_id, None)
            self._replays.pop(job.job_id, None)
            self._fingerprints.pop(job.job_id, None)

    def _export(self, job_id: str, rows: list[ItemRecord]) -> None:
        """Send the Exporter the rows of items that ended together, and forget them."""
        if len(rows) == 1:
            self.send(Role.EXPORTER, ExportItem(job_id=job_id, record=rows[0]))
        elif rows:
            self.send(Role.EXPORTER, ExportRecords(job_id=job_id, records=tuple(rows)))
        rows.clear()

    def _read(self, job: Job, count: int | None) -> InputsRead:
        inputs = self._inputs[job.job_id]
        taken = tuple(inputs if count is None else itertools.islice(inputs, count))
        end = count is None or len(taken) < count
        if job.stopping is None:  # a stopping job reads only to account for its inputs
            taken = self._cache.known_hashes(job.order, taken)
        ignored = self._ignored[job.job_id].snapshot() if end else None
        return InputsRead(taken, end=end, ignored=ignored)

    def _replay_more(self, job_id: str) -> None:
        """Send the next batch of a replay; tell the job when there is none left."""
        records = self._replays.get(job_id)
        if records is None:
            return
        batch = tuple(itertools.islice(records, _REPLAY_BATCH))
        if batch:
            self.send(Role.EXPORTER,
                      ExportRecords(job_id=job_id, records=batch, reply_to=self.actor_ref))
        else:
            del self._replays[job_id]
            self._event(job_id, ReplayDone())

    def _flush(self) -> None:
        self._journal.flush()
        if next(self._ticks) % round(HEARTBEAT_EVERY_S / _FLUSH_EVERY_S) == 0 and self._jobs:
            self._journal.heartbeat(list(self._jobs))
        for record in self._progress_log.due(self._jobs):
            self.actor_log.info("job.progress", **record)
        self.actor_timer.tell_later(_FLUSH_EVERY_S, self.actor_ref, _Flush())

    def _cache_unreadable(self, error: PixelmillError) -> None:
        self.actor_log.warning("cache.unreadable", reason=error.reason, error=str(error))

    def _journal_failed(self, job_id: str, error: PixelmillError) -> None:
        # Logged whatever happens next: at stop, no job is left to abort.
        self.actor_log.error("journal.failed", job_id=job_id, reason=error.reason, error=str(error))
        stop = StopJob(JobStatus.ABORTED, error.reason, f"the job store failed: {error}")
        for each in [job_id] if job_id in self._jobs else list(self._jobs):
            self._event(each, stop)

    # -- recovery of peers ------------------------------------------------------

    def on_peer_restarted(self, role: str, held: list[Any]) -> list[Any]:
        """Each job gives the replaced peer again all it had given it (runs in this
        thread); what was held for the peer while it was down is then not needed."""
        for job_id in list(self._jobs):
            self._event(job_id, PeerRestarted(role))
        return [] if role in _REGIVEN else held
