"""The job lifecycle as one pure state machine: events in, effects out.

Each item has a state (`ItemStatus`); `TRANSITIONS` is every move it may
make. A `Job` takes one event at a time (a lease granted, a result, a
failure, a decision, a cancel, a peer restarted, ...) and returns the effects
the JobManager must carry out (see `job_events`). It holds no actor, no
thread and no file, so a test drives it with any sequence of events.

Two rules hold in one place, `Job._move`: an item ends exactly once, and an
item holds a lease exactly while it is `leasing` or `running`, so every lease
is released by the time the job closes (asserted then).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pixelmill.actors._inputs import Input
from pixelmill.actors._lease_book import LeaseBook
from pixelmill.actors._lookahead import Lookahead
from pixelmill.actors.base import Role
from pixelmill.actors.job_events import (
    LISTENER,
    CacheAnswer,
    CacheLooked,
    Effect,
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
from pixelmill.errors import InternalError, PixelmillError
from pixelmill.imaging.fingerprint import expected_outputs
from pixelmill.imaging.pipeline import (
    ItemResult,
    OutputTarget,
    estimate_decode_mp,
    estimate_memory_mb,
)
from pixelmill.imaging.safe_open import DRAFT_FORMATS, REDUCE_FACTORS
from pixelmill.messages import (
    FINAL_STATUSES,
    AbandonJob,
    AbortJob,
    BatchDone,
    BatchItem,
    CancelJob,
    CloseExport,
    DecideRecovery,
    Degrade,
    ExportClosed,
    ExportFailed,
    ExportItem,
    Fail,
    HeaderRead,
    HeadersRead,
    IgnoredFiles,
    ItemDone,
    ItemFailed,
    ItemFinished,
    ItemRecord,
    ItemStatus,
    JobCounts,
    JobFinished,
    JobProgress,
    JobStatus,
    LeaseGranted,
    OpenExport,
    ProbeHeaders,
    ProbeItem,
    Process,
    ProcessBatch,
    ReleaseLease,
    RequestLease,
    Retry,
    Skip,
    WatchDisk,
)
from pixelmill.store import ItemRow, RunRow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pixelmill.imaging.pipeline import Pipeline
    from pixelmill.imaging.safe_open import ImageHeader
    from pixelmill.messages import JobOrder

__all__ = ["BATCH_MAX", "LOOKAHEAD", "TRANSITIONS", "Clock", "Item", "Job"]

Q, PROBING, LEASING, RUNNING = (
    ItemStatus.QUEUED, ItemStatus.PROBING, ItemStatus.LEASING, ItemStatus.RUNNING
)
DECIDING, RETRYING = ItemStatus.DECIDING, ItemStatus.RETRYING
DONE, CACHED, FAILED, SKIPPED, CANCELLED = FINAL_STATUSES
ABORTED_JOB, CANCELLED_JOB = JobStatus.ABORTED, JobStatus.CANCELLED

TRANSITIONS: Mapping[ItemStatus, frozenset[ItemStatus]] = {
    Q: frozenset({PROBING, LEASING, CANCELLED, SKIPPED}),
    # Probing reads the header, and looks the bytes up in the result cache.
    PROBING: frozenset({Q, DECIDING, CACHED, CANCELLED, SKIPPED}),
    LEASING: frozenset({RUNNING, CANCELLED, SKIPPED}),
    # Back to queued: a batch's crash or hang reruns each of its items alone.
    RUNNING: frozenset({DONE, DECIDING, Q, CANCELLED}),
    # Queued again at once: a degrade (probed again: a failed header); the rest
    # end, or wait out a backoff.
    DECIDING: frozenset({RETRYING, Q, PROBING, SKIPPED, FAILED, CANCELLED}),
    RETRYING: frozenset({Q, PROBING, CANCELLED, SKIPPED}),
}
"""Every move an item may make; the final statuses have none."""

LOOKAHEAD = 32
"""Inputs probed ahead of dispatch per job, among which the costliest go first."""
BATCH_MAX = 16
"""At most this many small items share one lease and one call into a worker."""
BATCH_ITEM_MP = 0.25
"""Items that decode to this many megapixels or fewer are small: the round
trip to a worker costs about as much as they do, so they go in batches..."""
BATCH_MP = 1.0
"""...of at most this many decoded megapixels in all, a few tens of
milliseconds of work, so that an urgent job waits little for a batch."""
_SMALLEST = REDUCE_FACTORS[-1]
"""The smallest decode a degrade asks for: 1/8 scale."""
_RUN_AGAIN = ("worker.crashed", "worker.timeout")
"""A batch's failures that belong to one unknown item of it, not to each."""
_KEEPS = frozenset({DONE, CACHED, FAILED, SKIPPED})
"""Final statuses an earlier run leaves as they are; a cancelled item never ran."""


class Clock(Protocol):
    """Where a Job reads the time: the `time` module, or a test's fake."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


@dataclasses.dataclass(slots=True, eq=False)
class Item:
    """One input of a job, on its way."""

    index: int
    input: Input
    state: ItemStatus = Q
    attempt: int = 1
    """The attempt the recovery policy counts, from 1."""
    runs: int = 0
    """Starts in a worker so far, uncounted re-runs included."""
    reduce: int = 1
    """Set by a `Degrade` decision: decode at 1/reduce scale."""
    header: ImageHeader | None = None
    decode_mp: float = 0.0
    """Its estimated cost (`estimate_decode_mp`), once probed."""
    memory_mb: int = 0
    """The memory its lease asks for, estimated from its header."""
    lease: str = ""
    """The id of the lease it holds, while `leasing` or `running`."""
    batched: bool = False
    """Leased and run with other small items in one `ProcessBatch`."""
    solo: bool = False
    """Must run alone: its batch crashed or hung, and it may be why."""
    started: float = 0.0
    """When it first started (monotonic seconds), for its duration."""
    run_started: float = 0.0
    """When its current run started (wall seconds), for the store."""
    failure: tuple[str, str] = ("", "")
    """While `deciding`: the reason and message being decided on."""
    content_hash: bytes | None = None
    """The hash of its bytes, once known (the result cache's key)."""
    looked_up: bool = False
    """The result cache was asked (and missed)."""
    probes: int = 0
    """Header probes sent to workers so far."""
    awaiting: int = 0
    """The probe whose answer it waits for (0: none): an answer to another is stale."""
    probe_batched: bool = False
    """Its awaited probe shares a `ProbeHeaders` with other items."""


class Job:
    """One job's items from its inputs to their ends, and the job's own end.

    Args:
        order: the job.
        reply_to: the ref answers come back to (the JobManager's), put in
            every request the Job makes.
        listener: the ref of the host's handle, kept for the JobManager.
        window: lease requests outstanding at once.
        batch_max: small items that may share a lease.
        admission_control: lease memory per item; off, only CPU slots count.
        priors: the items an earlier run recorded (a resume, or a JobManager
            restarted from the store); matched to the inputs by path.
        job_run: which run of the job this is (1, then one more per take-over).
        started_at: when the job started (wall seconds), if before now.
        fingerprint: the work's key in the result cache (`work_fingerprint`), or
            None not to use the cache; with one, an order whose `cache` is off
            looks nothing up but records what it does.
        clock: where the time is read.
    """

    def __init__(
        self,
        order: JobOrder,
        *,
        reply_to: Any,
        listener: Any = None,
        window: int = 4,
        batch_max: int = BATCH_MAX,
        admission_control: bool = True,
        priors: Iterable[ItemRow] = (),
        job_run: int = 1,
        started_at: float | None = None,
        fingerprint: str | None = None,
        clock: Clock = time,
    ) -> None:
        self.order = order
        self.job_id = order.job_id
        self.listener = listener
        self.pipeline: Pipeline = order.pipeline
        self._reply_to = reply_to
        self._window = max(1, window)
        self._batch_max = max(1, batch_max)
        self._admission_control = admission_control
        self._job_run = job_run
        self._fingerprint = fingerprint
        self._reuse = fingerprint is not None and order.cache
        """Look the items up in the cache; without, a job (`--no-cache`) works every
        item and still records its work for later jobs."""
        self._clock = clock
        # A job taken up again after its JobManager died counts from its start.
        self._started_wall = clock.time() if started_at is None else started_at
        self._started = clock.monotonic() - (clock.time() - self._started_wall)
        self._out: list[Effect] = []
        self._items: dict[int, Item] = {}
        """Every item not yet ended, by index."""
        self._ready: deque[Item] = deque()
        """Probed items to run again (retries, degrades, reruns), ahead of new ones."""
        self._lookahead = Lookahead()
        self._to_probe: list[Item] = []
        """Items whose probe is to be sent at the end of this event."""
        self._reading = False
        self._leases = LeaseBook(f"{self.job_id}/{job_run}")
        self._waiting: set[str] = set()
        """Leases requested and not yet granted."""
        self._counts: Counter[ItemStatus] = Counter()
        self._total = 0
        self._running = 0
        """Items running now (kept by `_move`: progress is sent after every item)."""
        self._priors = {row.path: row for row in priors}
        """Items of earlier runs the walk has not found again yet, by path."""
        self._next_index = 1 + max((row.index for row in self._priors.values()), default=-1)
        self._kept: set[int] = set()
        """Final items of earlier runs found unchanged, whose records are still to be replayed."""
        self._exported: set[int] = set()
        """Final items whose record the Exporter has been sent."""
        self._replaying = False
        self._closing = False
        self._summary: JobFinished | None = None
        self._ignored = IgnoredFiles()
        """What the walk of the input directories left (told with the last inputs)."""
        self.expanded = False
        """Every input has been read."""
        self.stopping: JobStatus | None = None
        self._unrun = CANCELLED
        """How items end that the stopping job never ran."""
        self.reason: str | None = None
        self.message: str | None = None
        self.finished: JobFinished | None = None
        """How the job ended, once its export is closed: the job is then over."""

    # -- the interface --------------------------------------------------------

    def start(self) -> list[Effect]:
        """Open the job's export and start reading its inputs."""
        self._open_export()
        self._pump()
        return self._take()

    def handle(self, event: Any) -> list[Effect]:
        """Take one event; return what the JobManager must do about it, in order."""
        match event:
            case InputsRead(inputs=inputs, end=end, ignored=ignored):
                if ignored is not None:
                    self._ignored = ignored
                self._inputs_read(inputs, end=end)
            case HeadersRead(outcomes=read):
                for header in read:
                    self._probed(header)
            case CacheLooked(answers=answers):
                for found in answers:
                    self._cache_looked(found)
            case LeaseGranted(lease_id=lease_id):
                self._granted(lease_id)
            case ItemDone() | ItemFailed():
                self._returned(event)
            case BatchDone(outcomes=outcomes):
                for outcome in outcomes:
                    self._returned(outcome)
            case Retry() | Degrade() | Skip() | Fail() | AbortJob():
                self._decided(event)
            case RetryDue(index=index, attempt=attempt):
                self._retry_due(index, attempt)
            case CancelJob(abandon=abandon):
                self._stop(CANCELLED_JOB, "job.cancelled", "cancelled by the host", CANCELLED)
                if abandon:
                    self._abandon()
            case ExportFailed(reason=reason, message=text):
                self._stop(ABORTED_JOB, reason, text, SKIPPED)
            case StopJob(status=status, reason=reason, message=text):
                # Not the job's fault (the runtime broke, the store failed): a
                # resume runs what did not start.
                self._stop(status, reason, text, CANCELLED)
            case ReplayDone():
                self._replaying = False
            case ExportClosed():
                self._export_closed(event)
            case PeerRestarted(role=role):
                self._peer_restarted(role)
            case _:
                raise TypeError(f"a Job does not handle {type(event).__name__}")
        self._pump()
        return self._take()

    def counts(self) -> JobCounts:
        return JobCounts(
            total=self._total, **{status.value: self._counts[status] for status in FINAL_STATUSES}
        )

    def progress(self) -> JobProgress:
        running = self._running
        return JobProgress(
            job_id=self.job_id,
            status=self.stopping if self.stopping and not self._items else JobStatus.RUNNING,
            counts=self.counts(),
            expanded=self.expanded,
            running=running,
            elapsed_s=self._clock.monotonic() - self._started,
        )

    def live_items(self) -> list[Item]:
        """The items not yet ended."""
        return list(self._items.values())

    def open_leases(self) -> list[str]:
        """The ids of the leases the job holds or waits for."""
        return [lease_id for lease_id, _ in self._leases]

    # -- inputs and headers ---------------------------------------------------

    def _inputs_read(self, inputs: Sequence[Input], *, end: bool) -> None:
        self._reading = False
        for found in inputs:
            prior = self._priors.pop(str(found.path), None)
            if prior is not None and _unchanged(prior, found):
                self._total += 1
                self._counts[prior.status] += 1
                self._kept.add(prior.index)
                continue
            item = self._new_item(found, prior)
            if self.stopping is not None:
                self._finish_stopped(item)
            elif item.state is DECIDING:
                self._ask_decision(item)
            elif self._reuse and found.content_hash is not None:
                item.content_hash = found.content_hash  # its file is unchanged
                self._move(item, PROBING)
                self._look_up(item)
            else:
                if self._fingerprint is not None:
                    item.content_hash = found.content_hash  # kept for the record
                self._probe(item)
        if end:
            self.expanded = True
            self._account_missing()
            self._replay_kept()

    def _new_item(self, found: Input, prior: ItemRow | None) -> Item:
        if prior is None:
            item = Item(index=self._next_index, input=found)
            self._next_index += 1
        else:
            # Interrupted on its way: the attempts it used still count.
            carried = not prior.status.final
            item = Item(
                index=prior.index,
                input=found,
                state=DECIDING if prior.status is DECIDING else Q,
                attempt=max(1, prior.attempts) if carried else 1,
                reduce=prior.reduce if carried else 1,
                runs=prior.runs,
                failure=(prior.reason or "internal.error", prior.message or ""),
            )
        self._items[item.index] = item
        self._total += 1
        self._record(item)
        return item

    def _account_missing(self) -> None:
        """Items of an earlier run that the inputs no longer hold end skipped."""
        for prior in self._priors.values():
            found = Input(path=Path(prior.path), stem=prior.stem, rel_dir=prior.rel_dir,
                          size=prior.size, mtime_ns=prior.mtime_ns)
            item = self._new_item(found, prior)
            self._finish(item, SKIPPED, reason="input.missing",
                         message=f"{prior.path}: no longer among the job's inputs "
                                 "(removed, renamed, or no longer matched)")
        self._priors.clear()

    def _probe(self, item: Item) -> None:
        """Have a worker read the item's header (and hash its bytes for the cache)."""
        self._move(item, PROBING)
        self._send_probe(item)

    def _send_probe(self, item: Item) -> None:
        item.probes += 1
        item.awaiting = item.probes
        self._to_probe.append(item)

    def _flush_probes(self) -> None:
        """Send this event's probes: in batches, but those that must run alone."""
        queued, self._to_probe = self._to_probe, []
        # An item probed twice within one event is sent once, with its latest number.
        items = list({item.index: item for item in queued
                      if item.state is PROBING and item.awaiting}.values())
        alone = [item for item in items if item.solo]
        shared = [item for item in items if not item.solo]
        groups = [[item] for item in alone] + [
            shared[at:at + self._batch_max] for at in range(0, len(shared), self._batch_max)
        ]
        for group in groups:
            for item in group:
                item.probe_batched = len(group) > 1
            self._emit(Send(Role.PROCESSOR_POOL, ProbeHeaders(
                job_id=self.job_id,
                items=tuple(ProbeItem(
                    index=item.index, path=item.input.path, probe=item.probes,
                    attempt=item.attempt,
                    content_hash=self._fingerprint is not None and item.content_hash is None,
                ) for item in group),
                reply_to=self._reply_to,
            )))

    def _probed(self, answer: HeaderRead) -> None:
        item = self._items.get(answer.index)
        if item is None or item.state is not PROBING or item.awaiting != answer.probe:
            return  # it ended meanwhile (its job stopped), or was probed again since
        item.awaiting = 0
        probed = answer.probed
        if probed is None:
            reason = answer.reason or "internal.error"
            if item.probe_batched and reason in _RUN_AGAIN:
                # As for a batch of work: which file killed or hung the worker is
                # unknown, so each is probed again alone, this attempt not counted.
                self._log("info", "item.batch_rerun", item=str(item.input.path), reason=reason,
                          error=answer.message)
                item.solo = True
                self._send_probe(item)
                return
            self._failed(item, reason, answer.message or "", answer.worker)
            return
        item.header = probed.header
        item.decode_mp = estimate_decode_mp(probed.header, self.pipeline)
        item.content_hash = item.content_hash or probed.content_hash
        if self._reuse and item.content_hash and not item.looked_up:
            self._look_up(item)
            return
        self._move(item, Q)
        self._lookahead.push(item)

    def _look_up(self, item: Item) -> None:
        """Ask the result cache for earlier work on the item's bytes (it stays probing)."""
        assert item.content_hash is not None
        target = OutputTarget(output_dir=self.order.output_dir, stem=item.input.stem,
                              rel_dir=item.input.rel_dir)
        try:
            outputs = tuple(expected_outputs(self.pipeline, target))
        except PixelmillError:
            outputs = None  # its outputs cannot be named: the worker will say why
        item.looked_up = True
        if outputs is None:
            self._after_lookup(item)
            return
        self._emit(LookupCache(self.job_id, item.index, item.content_hash, outputs))

    def _cache_looked(self, answer: CacheAnswer) -> None:
        item = self._items.get(answer.index)
        if item is None or item.state is not PROBING or item.awaiting:
            return  # it ended meanwhile (its job stopped)
        if answer.result is None:
            self._after_lookup(item)
            return
        result = answer.result
        cached = ItemResult(
            outputs=answer.outputs, analyses=dict(result.get("analyses") or {}),
            source=dict(result.get("source") or {}), width=result["width"],
            height=result["height"], decode_ms=0.0, total_ms=0.0,
        )
        self._finish(item, CACHED, result=cached)

    def _after_lookup(self, item: Item) -> None:
        """A miss: on to the lookahead once the header is read."""
        if item.header is None:
            self._move(item, Q)  # read the header, which a stat-only lookup skipped
            self._probe(item)
            return
        self._move(item, Q)
        self._lookahead.push(item)

    # -- leases and dispatch --------------------------------------------------

    def _pump(self) -> None:
        self._flush_probes()
        if not self.expanded and not self._reading:
            count: int | None = None  # stopping: read the rest, to account for every input
            if self.stopping is None:
                probing = sum(item.state is PROBING for item in self._items.values())
                count = LOOKAHEAD - len(self._lookahead) - probing
            if count is None or count > 0:
                self._reading = True
                self._emit(ReadInputs(self.job_id, count))
        if self.stopping is None:
            self._lease_ready()
        self._maybe_close()

    def _lease_ready(self) -> None:
        batch: list[Item] = []
        batch_mp = 0.0
        while len(self._waiting) < self._window:
            item = self._ready.popleft() if self._ready else self._lookahead.pop()
            if item is None:
                break
            if item.solo or item.reduce != 1 or item.decode_mp > BATCH_ITEM_MP:
                self._request_lease([item])
                continue
            batch.append(item)
            batch_mp += item.decode_mp
            if len(batch) >= self._batch_max or batch_mp >= BATCH_MP:
                self._request_lease(batch)
                batch, batch_mp = [], 0.0
        if batch:
            self._request_lease(batch)

    def _request_lease(self, items: Sequence[Item]) -> None:
        for item in items:
            assert item.header is not None
            item.memory_mb = estimate_memory_mb(
                item.header, self.pipeline, reduce=item.reduce
            )
            item.batched = len(items) > 1
        lease_id = self._leases.open(items)
        self._waiting.add(lease_id)
        for item in items:
            self._move(item, LEASING)
        self._ask_lease(lease_id, items)

    def _ask_lease(self, lease_id: str, items: Sequence[Item]) -> None:
        # A batch runs its items one after another: its peak is the largest one's.
        memory_mb = max(item.memory_mb for item in items)
        self._emit(Send(Role.RESOURCE_MANAGER, RequestLease(
            lease_id=lease_id,
            # Without admission control only the CPU slots bound the work.
            memory_mb=memory_mb if self._admission_control else 0,
            cpu_slots=1,
            priority=int(self.order.priority),
            reply_to=self._reply_to,
        )))

    def _granted(self, lease_id: str) -> None:
        covered = self._leases.covered(lease_id)
        if covered is None:
            # Not (or no longer) ours: its items ended before it came.
            self._emit(Send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id)))
            return
        items = [self._items[index] for index in sorted(covered)]
        if all(item.state is RUNNING for item in items):
            return  # a running lease, granted again by a restarted ResourceManager
        self._waiting.discard(lease_id)
        now = self._clock.monotonic()
        for item in items:
            item.started = item.started or now
            self._start_run(item)
        self._dispatch(items)

    def _start_run(self, item: Item) -> None:
        item.runs += 1
        item.run_started = self._clock.time()
        self._move(item, RUNNING)
        self._emit(RecordRun(self._run_row(item)))

    def _end_run(self, item: Item, status: str, reason: str | None = None,
                 message: str | None = None) -> None:
        self._emit(RecordRun(self._run_row(
            item, ended_at=self._clock.time(), status=status, reason=reason, message=message
        )))

    def _dispatch(self, items: Sequence[Item]) -> None:
        order = self.order
        targets = [
            OutputTarget(output_dir=order.output_dir, stem=i.input.stem, rel_dir=i.input.rel_dir)
            for i in items
        ]
        work: Process | ProcessBatch
        if len(items) == 1 and not items[0].batched:
            (item,) = items
            work = Process(
                job_id=self.job_id, index=item.index, path=item.input.path,
                pipeline=order.pipeline, target=targets[0], attempt=item.attempt,
                run=item.runs, reduce=item.reduce, plugins=order.plugins,
                reply_to=self._reply_to,
            )
        else:
            work = ProcessBatch(
                job_id=self.job_id,
                items=tuple(
                    BatchItem(index=i.index, path=i.input.path, target=t, attempt=i.attempt,
                              run=i.runs)
                    for i, t in zip(items, targets, strict=True)
                ),
                pipeline=order.pipeline,
                plugins=order.plugins,
                reply_to=self._reply_to,
            )
        self._emit(Send(Role.PROCESSOR_POOL, work))

    # -- results and decisions ------------------------------------------------

    def _returned(self, answer: ItemDone | ItemFailed) -> None:
        item = self._items.get(answer.index)
        if item is None or item.state is not RUNNING or item.runs != answer.run:
            self._log("info", "item.stale_result", index=answer.index, run=answer.run)
            return
        if isinstance(answer, ItemDone):
            self._end_run(item, "done")
            self._finish(item, DONE, result=answer.result)
            if self._fingerprint is not None and item.content_hash is not None:
                result = answer.result
                self._emit(RecordCache(item.content_hash, self._fingerprint, {
                    "width": result.width, "height": result.height,
                    "source": dict(result.source), "analyses": dict(result.analyses),
                }, tuple(result.outputs)))
            return
        self._end_run(item, "failed", answer.reason, answer.message)
        if item.batched and answer.reason in _RUN_AGAIN:
            # Which item of the batch crashed or hung is unknown: each runs
            # again alone, this attempt not counted, and only that one fails.
            self._log("info", "item.batch_rerun", item=str(item.input.path),
                      reason=answer.reason, error=answer.message)
            item.solo, item.batched = True, False
            self._move(item, Q)
            if self.stopping is not None:
                self._finish_stopped(item)  # nothing is dispatched any more
                return
            self._ready.append(item)
        else:
            self._failed(item, answer.reason, answer.message, answer.worker)

    def _failed(self, item: Item, reason: str, message: str, worker: int | None) -> None:
        self._log("warning", "item.failed", item=str(item.input.path), attempt=item.attempt,
                  reason=reason, error=message, worker=worker)
        if reason == "resource.memory" and item.header is not None and not self._degradable(item):
            message = f"{message}; {self._not_smaller(item)}"
        item.failure = (reason, message)
        self._move(item, DECIDING)
        self._ask_decision(item)

    def _ask_decision(self, item: Item) -> None:
        reason, message = item.failure
        self._emit(Send(Role.SUPERVISOR, DecideRecovery(
            job_id=self.job_id, index=item.index, reason=reason, message=message,
            attempt=item.attempt, degradable=self._degradable(item), reply_to=self._reply_to,
        )))

    def _degradable(self, item: Item) -> bool:
        """A smaller decode would lower the item's peak: a JPEG's DCT scaling, not yet at 1/8.

        Any other format decodes at full size whatever the scale asked, so its
        peak stays where it failed.
        """
        header = item.header
        if header is None or header.format not in DRAFT_FORMATS or item.reduce >= _SMALLEST:
            return False
        smaller = estimate_memory_mb(header, self.pipeline, reduce=min(_SMALLEST, item.reduce * 2))
        return smaller < estimate_memory_mb(header, self.pipeline, reduce=item.reduce)

    def _not_smaller(self, item: Item) -> str:
        assert item.header is not None
        peak = estimate_memory_mb(item.header, self.pipeline, reduce=item.reduce)
        fmt = item.header.format
        why = (f"already decoded at 1/{item.reduce} scale" if fmt in DRAFT_FORMATS
               else f"{fmt} decodes at full size at any scale")
        return (f"its peak is estimated at {peak} MiB ({item.header.width}x"
                f"{item.header.height}), and {why}: not run again smaller")

    def _decided(self, decision: Retry | Degrade | Skip | Fail | AbortJob) -> None:
        item = self._items.get(decision.index)
        if item is None or item.state is not DECIDING or item.attempt != decision.attempt:
            return  # asked again after a restart, and answered twice
        match decision:
            case Retry(after_s=after_s) if self.stopping is None:
                item.attempt += 1
                self._log("info", "item.retry", item=str(item.input.path), attempt=item.attempt,
                          after_s=round(after_s, 3))
                self._move(item, RETRYING)
                self._emit(Later(after_s, RetryDue(self.job_id, item.index, item.attempt)))
            case Degrade(reduce=reduce) if self.stopping is None:
                item.attempt += 1
                item.reduce = reduce
                self._log("info", "item.degraded", item=str(item.input.path),
                          attempt=item.attempt, reduce=reduce)
                self._run_again(item)
            case Retry() | Degrade():
                self._finish_stopped(item)
            case Skip(reason=reason, message=text):
                self._finish(item, SKIPPED, reason=reason, message=text)
            case Fail(reason=reason, message=text):
                self._finish(item, FAILED, reason=reason, message=text)
            case AbortJob(reason=reason, message=text):
                self._finish(item, FAILED, reason=reason, message=text)
                self._stop(ABORTED_JOB, reason, text, SKIPPED)

    def _retry_due(self, index: int, attempt: int) -> None:
        item = self._items.get(index)
        if item is not None and item.state is RETRYING and item.attempt == attempt:
            self._run_again(item)

    def _run_again(self, item: Item) -> None:
        """Queue a retried item ahead of new ones; its header first, if it failed there."""
        if item.header is None:
            self._probe(item)
        else:
            self._move(item, Q)
            self._ready.appendleft(item)

    # -- ends -----------------------------------------------------------------

    def _stop(self, status: JobStatus, reason: str, message: str, unrun: ItemStatus) -> None:
        """Stop dispatching; what has not started ends now as `unrun` (cancelled:
        a resume runs it; skipped: it stays so), what runs may finish."""
        if self.stopping is not None or self._closing:
            return
        self.stopping, self.reason, self.message = status, reason, message
        self._unrun = unrun
        self._log("warning", "job.stopping", status=status.value, reason=reason)
        self._ready.clear()
        self._lookahead.drain()
        for item in list(self._items.values()):
            if item.state in (Q, PROBING, LEASING, RETRYING):
                self._finish_stopped(item)

    def _abandon(self) -> None:
        """End the running items now, as cancelled; their late answers are stale."""
        self._emit(Send(Role.PROCESSOR_POOL, AbandonJob(job_id=self.job_id)))
        for item in list(self._items.values()):
            if item.state is RUNNING:
                self._end_run(item, "lost", "job.cancelled", "abandoned by the host")
                self._finish(item, CANCELLED, reason="job.cancelled",
                             message="stopped while it ran: the host abandoned the job")

    def _finish_stopped(self, item: Item) -> None:
        self._finish(item, self._unrun, reason=self.reason,
                     message=f"not run: the job was {self.stopping}")

    def _finish(
        self,
        item: Item,
        status: ItemStatus,
        *,
        reason: str | None = None,
        message: str | None = None,
        result: ItemResult | None = None,
    ) -> None:
        self._move(item, status)
        del self._items[item.index]
        self._counts[status] += 1
        elapsed = (self._clock.monotonic() - item.started) * 1000 if item.started else 0.0
        finished = ItemFinished(
            job_id=self.job_id,
            index=item.index,
            path=str(item.input.path),
            status=status,
            reason=reason,
            message=message,
            attempts=item.attempt if item.started or status not in (CANCELLED, CACHED) else 0,
            result=result,
            duration_ms=round(result.total_ms if result is not None else elapsed, 1),
        )
        if status is DONE:
            self._log("info", "item.done", item=finished.path, attempt=item.attempt,
                      duration_ms=finished.duration_ms)
        record = ItemRecord.of(finished)
        self._emit(RecordItem(_item_row(self.job_id, item, record)))
        self._exported.add(item.index)
        self._emit(Send(Role.EXPORTER, ExportItem(job_id=self.job_id, record=record)))
        self._emit(Send(LISTENER, finished))
        self._emit(Send(LISTENER, self.progress()))

    def _maybe_close(self) -> None:
        if (self._closing or self.finished is not None or not self.expanded or self._items
                or self._replaying):
            return
        # Invariant: every input ended exactly once, and every lease was released.
        assert sum(self._counts.values()) == self._total, (self._counts, self._total)
        assert not self._leases and not self._waiting, self.open_leases()
        self._closing = True
        self._summary = JobFinished(
            job_id=self.job_id,
            name=self.order.name,
            status=self.stopping or JobStatus.COMPLETED,
            counts=self.counts(),
            reason=self.reason if self.stopping else None,
            message=self.message if self.stopping else None,
            started_at=self._started_wall,
            duration_s=self._clock.monotonic() - self._started,
            ignored=self._ignored,
        )
        self._emit(Send(Role.EXPORTER, CloseExport(summary=self._summary,
                                                   reply_to=self._reply_to)))

    def _export_closed(self, closed: ExportClosed) -> None:
        if not self._closing or self._summary is None:
            return  # the answer of an export since opened again
        summary = self._summary
        if closed.reason is not None:
            summary = dataclasses.replace(
                summary, status=JobStatus.ABORTED, reason=closed.reason, message=closed.message
            )
        summary = dataclasses.replace(summary, export_files=closed.files)
        self.finished = summary
        self._emit(RecordFinish(summary))
        self._log("info", "job.finished", status=summary.status.value, reason=summary.reason,
                  duration_ms=round(summary.duration_s * 1000, 1), **summary.counts.as_dict())
        self._emit(Send(LISTENER, summary))

    # -- peers that were replaced ---------------------------------------------

    def _peer_restarted(self, role: str) -> None:
        """Give a replaced peer again what it held, so that no item is lost."""
        if role == Role.RESOURCE_MANAGER:
            # So that the new ResourceManager's budget counts what really runs.
            for lease_id, covered in self._leases:
                self._ask_lease(lease_id, [self._items[index] for index in sorted(covered)])
        elif role == Role.PROCESSOR_POOL:
            for item in self._items.values():
                if item.state is PROBING and item.awaiting:
                    self._send_probe(item)  # the pool died with the probe
            for lease_id, covered in self._leases:
                items = [self._items[index] for index in sorted(covered)]
                if lease_id in self._waiting:
                    continue
                for item in items:
                    self._end_run(item, "lost", "actor.crashed", "its processor pool was replaced")
                    item.runs += 1
                    item.run_started = self._clock.time()
                    self._record(item)
                    self._emit(RecordRun(self._run_row(item)))
                self._dispatch(items)
        elif role == Role.EXPORTER and self.finished is None:
            self._closing = False  # closed again once its records are back
            self._regenerate()
        elif role == Role.SUPERVISOR:
            for item in self._items.values():
                if item.state is DECIDING:
                    self._ask_decision(item)
        elif role == Role.MONITOR:
            self._emit(Send(Role.MONITOR, WatchDisk(directory=str(self.order.export_dir))))

    def _open_export(self) -> None:
        order = self.order
        self._emit(Send(Role.EXPORTER, OpenExport(
            job_id=self.job_id, export_dir=order.export_dir, analyses=order.pipeline.analyses,
            output_dir=order.output_dir, charts=order.charts, reply_to=self._reply_to,
        )))
        self._emit(Send(Role.MONITOR, WatchDisk(directory=str(order.export_dir))))

    def _replay_kept(self) -> None:
        """Send the Exporter the records of what earlier runs finished and the walk kept."""
        kept, self._kept = self._kept, set()
        if not kept:
            return
        self._exported |= kept
        if self._replaying:
            # A `Replay` replaces the one under way: start that export again, whole.
            self._regenerate()
        else:
            self._replaying = True
            self._emit(Replay(self.job_id, frozenset(kept)))

    def _regenerate(self) -> None:
        """Start the export afresh and send every record it must hold again, from the store."""
        self._open_export()
        if self._exported:
            self._replaying = True
            self._emit(Replay(self.job_id, frozenset(self._exported)))

    # -- the one place items move ---------------------------------------------

    def _move(self, item: Item, to: ItemStatus) -> None:
        if to not in TRANSITIONS.get(item.state, ()):
            raise InternalError(
                f"job {self.job_id}, item {item.index}: {item.state} -> {to} is not allowed"
            )
        if item.state in (LEASING, RUNNING) and to is not RUNNING:
            lease_id = self._leases.drop(item)
            if lease_id is not None:
                self._waiting.discard(lease_id)
                self._emit(Send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id)))
        self._running += (to is RUNNING) - (item.state is RUNNING)
        item.state = to
        if not to.final:
            self._record(item)

    def _record(self, item: Item) -> None:
        reason, message = item.failure if item.state is DECIDING else (None, None)
        self._emit(RecordItem(ItemRow(
            job_id=self.job_id, index=item.index, path=str(item.input.path), status=item.state,
            reason=reason, message=message, attempts=item.attempt, size=item.input.size,
            mtime_ns=item.input.mtime_ns, stem=item.input.stem, rel_dir=item.input.rel_dir,
            reduce=item.reduce, runs=item.runs,
        )))

    def _run_row(self, item: Item, **end: Any) -> RunRow:
        return RunRow(job_id=self.job_id, index=item.index, run=item.runs, attempt=item.attempt,
                      job_run=self._job_run, started_at=item.run_started, **end)

    def _emit(self, effect: Effect) -> None:
        self._out.append(effect)

    def _log(self, level: str, event: str, **fields: Any) -> None:
        self._emit(Log(level, event, {"job_id": self.job_id, **fields}))

    def _take(self) -> list[Effect]:
        out, self._out = self._out, []
        return out



def _unchanged(prior: ItemRow, found: Input) -> bool:
    """A final item of an earlier run, kept as it is: its file is the same one."""
    if prior.status not in _KEEPS:
        return False
    if prior.size is None and prior.mtime_ns is None:
        return True  # recorded by a store without identities: trust the path
    return (prior.size, prior.mtime_ns) == (found.size, found.mtime_ns)


def _item_row(job_id: str, item: Item, record: ItemRecord) -> ItemRow:
    return ItemRow(
        job_id=job_id, index=item.index, path=record.path, status=record.status,
        reason=record.reason, message=record.message, attempts=record.attempts,
        duration_ms=record.duration_ms, outputs=record.outputs, result=record.result_data(),
        size=item.input.size, mtime_ns=item.input.mtime_ns, stem=item.input.stem,
        rel_dir=item.input.rel_dir, reduce=item.reduce, runs=item.runs,
    )
