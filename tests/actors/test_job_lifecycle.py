"""The pure Job driven by random event sequences: every item ends once, every lease is released.

The test plays every peer of the JobManager: it answers reads, probes, lease
requests, work, recovery questions, replays and the export's close in any
order, repeats and reorders answers, restarts each peer, cancels and aborts;
then it drives the job to its end. Whatever happened, the invariants hold.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pixelmill.actors import job_events
from pixelmill.actors._inputs import Input
from pixelmill.actors.base import Role
from pixelmill.actors.job_events import (
    InputsRead,
    Later,
    PeerRestarted,
    ReadInputs,
    RecordFinish,
    RecordItem,
    Replay,
    ReplayDone,
    Send,
    StopJob,
)
from pixelmill.actors.job_lifecycle import TRANSITIONS, Job
from pixelmill.imaging.pipeline import ItemResult, Pipeline
from pixelmill.imaging.safe_open import ImageHeader, ProbedFile
from pixelmill.messages import (
    AbandonJob,
    AbortJob,
    BatchDone,
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
    ItemDone,
    ItemFailed,
    ItemFinished,
    ItemStatus,
    JobFinished,
    JobOrder,
    JobStatus,
    LeaseGranted,
    OpenExport,
    ProbeHeaders,
    Process,
    ProcessBatch,
    ReleaseLease,
    RequestLease,
    Retry,
    Skip,
)
from pixelmill.store import ItemRow

ROLES = (Role.RESOURCE_MANAGER, Role.PROCESSOR_POOL, Role.EXPORTER, Role.SUPERVISOR,
         Role.MONITOR)
SMALL = ImageHeader(format="PNG", width=64, height=64, bands=3)
LARGE = ImageHeader(format="PNG", width=2000, height=2000, bands=3)
LARGE_JPEG = ImageHeader(format="JPEG", width=4000, height=3000, bands=3)
"""A smaller decode lowers its peak (DCT scaling): a memory failure may be degraded."""
RESULT = ItemResult(outputs=(), analyses={}, source={}, width=1, height=1, decode_ms=1.0,
                    total_ms=2.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 0.001
        return self.now

    def time(self) -> float:
        return self.monotonic()


@dataclass
class Peers:
    """What the job has asked of its peers and not yet had answered."""

    read: int | bool | None = False
    probes: list[ProbeHeaders] = field(default_factory=list)
    """Probes sent to workers and not yet answered."""
    probed: list[HeadersRead] = field(default_factory=list)
    """Every answer given to probes, to repeat as stale ones."""
    requested: dict[str, RequestLease] = field(default_factory=dict)
    """Leases asked for and not released, as the ResourceManager sees them."""
    granted: set[str] = field(default_factory=set)
    work: list[Process | ProcessBatch] = field(default_factory=list)
    answered: list[Any] = field(default_factory=list)
    """Every answer given to work, to repeat as stale ones."""
    decisions: dict[int, DecideRecovery] = field(default_factory=dict)
    timers: list[Any] = field(default_factory=list)
    replaying: bool = False
    close: CloseExport | None = None


class JobMachine(RuleBasedStateMachine):
    @initialize(
        count=st.integers(1, 10),
        window=st.integers(1, 3),
        batch_max=st.sampled_from([1, 3, 16]),
        large=st.sets(st.integers(0, 9)),
        prior_states=st.lists(
            st.sampled_from(["none", "done", "changed", "cancelled", "running", "deciding",
                             "missing"]),
            min_size=10, max_size=10,
        ),
    )
    def start(self, count: int, window: int, batch_max: int, large: set[int],
              prior_states: list[str]) -> None:
        self.inputs = [
            Input(path=Path(f"/in/{i}.png"), stem=str(i), rel_dir="", size=100 + i,
                  mtime_ns=1000 + i)
            for i in range(count)
        ]
        self.large = large
        self.read_at = 0
        priors = []
        for i, state in enumerate(prior_states[:count]):
            if state == "none":
                continue
            path = f"/in/{i}.png" if state != "missing" else f"/gone/{i}.png"
            status = {"done": ItemStatus.DONE, "changed": ItemStatus.DONE,
                      "cancelled": ItemStatus.CANCELLED, "running": ItemStatus.RUNNING,
                      "deciding": ItemStatus.DECIDING, "missing": ItemStatus.DONE}[state]
            priors.append(ItemRow(
                job_id="j", index=i, path=path, status=status, attempts=1,
                reason="io.transient" if state == "deciding" else None, message="",
                size=100 + i + (state == "changed"), mtime_ns=1000 + i, stem=str(i), runs=1,
            ))
        self.kept = {row.index for row in priors if row.status is ItemStatus.DONE
                     and row.path.startswith("/in/") and row.size == 100 + row.index}
        order = JobOrder(job_id="j", name="j", inputs=("/in",), pipeline=Pipeline(),
                         output_dir=None, export_dir=Path("/out"))
        self.job = Job(order, reply_to=None, window=window, batch_max=batch_max,
                       priors=priors, job_run=2, clock=FakeClock())
        self.peers = Peers()
        self.finished: dict[int, ItemFinished] = {}
        self.exported: set[int] = set()
        self.final_rows: dict[int, int] = {}
        self.result: JobFinished | None = None
        self.recorded_finish = False
        self.solo: set[int] = set()
        """Items whose probe broke a shared worker: they must be probed alone."""
        self.apply(self.job.start())

    # -- the peers' side ------------------------------------------------------

    def apply(self, effects: list[Any]) -> None:
        for effect in effects:
            match effect:
                case Send(to=job_events.LISTENER, message=ItemFinished() as item):
                    assert item.index not in self.finished, f"item {item.index} ended twice"
                    self.finished[item.index] = item
                case Send(to=job_events.LISTENER, message=JobFinished() as summary):
                    assert self.result is None, "the job finished twice"
                    self.result = summary
                case Send(to=job_events.LISTENER):
                    pass
                case Send(to=Role.RESOURCE_MANAGER, message=RequestLease() as request):
                    self.peers.requested[request.lease_id] = request
                case Send(to=Role.RESOURCE_MANAGER, message=ReleaseLease(lease_id=lease_id)):
                    self.peers.requested.pop(lease_id, None)
                    self.peers.granted.discard(lease_id)
                case Send(to=Role.PROCESSOR_POOL, message=ProbeHeaders() as probe):
                    assert len(probe.items) == 1 or not any(
                        i.index in self.solo for i in probe.items), "a suspect shares a probe"
                    self.peers.probes.append(probe)
                case Send(to=Role.PROCESSOR_POOL, message=Process() | ProcessBatch() as work):
                    self.peers.work.append(work)
                case Send(to=Role.PROCESSOR_POOL, message=AbandonJob()):
                    self.peers.work.clear()
                    self.peers.probes.clear()
                case Send(to=Role.SUPERVISOR, message=DecideRecovery() as ask):
                    self.check_degradable(ask)
                    self.peers.decisions[ask.index] = ask
                case Send(to=Role.EXPORTER, message=OpenExport()):
                    self.exported = set()
                    self.peers.replaying = False
                    self.peers.close = None
                case Send(to=Role.EXPORTER, message=ExportItem(record=record)):
                    assert record.index not in self.exported, f"row {record.index} doubled"
                    self.exported.add(record.index)
                case Send(to=Role.EXPORTER, message=CloseExport() as close):
                    self.peers.close = close
                case Send(to=Role.MONITOR):
                    pass
                case Replay(indices=indices):
                    assert not (indices & self.exported), "replayed rows doubled"
                    self.exported |= indices
                    self.peers.replaying = True
                case ReadInputs(count=count):
                    assert self.peers.read is False, "a read asked while one is out"
                    self.peers.read = count
                case Later(message=message):
                    self.peers.timers.append(message)
                case RecordItem(row=row) if row.status.final:
                    self.final_rows[row.index] = self.final_rows.get(row.index, 0) + 1
                case RecordFinish():
                    self.recorded_finish = True
                case _:
                    pass

    def tell(self, event: Any) -> None:
        self.apply(self.job.handle(event))

    def header_of(self, index: int) -> ImageHeader:
        if index not in self.large:
            return SMALL
        return LARGE_JPEG if index % 2 else LARGE

    def check_degradable(self, ask: DecideRecovery) -> None:
        """A memory failure is degraded only where a smaller decode lowers the peak."""
        if ask.reason != "resource.memory":
            return
        (item,) = [i for i in self.job.live_items() if i.index == ask.index]
        if item.header is None or item.header.format == "PNG" or item.reduce == 8:
            assert not ask.degradable, (item.header, item.reduce)
            if item.header is not None:
                assert "not run again smaller" in ask.message
                assert "MiB" in ask.message, "the message gives the estimated peak"
        else:
            assert ask.degradable, (item.header, item.reduce)

    @precondition(lambda self: self.peers.read is not False)
    @rule()
    def answer_read(self) -> None:
        count = self.peers.read
        self.peers.read = False
        end = len(self.inputs) if count is None else self.read_at + count
        taken = self.inputs[self.read_at:end]
        self.read_at += len(taken)
        self.tell(InputsRead(tuple(taken), end=self.read_at >= len(self.inputs)))

    @precondition(lambda self: self.peers.probes)
    @rule(data=st.data(), outcome=st.sampled_from(
        ["read", "read", "read", "worker.crashed", "worker.timeout"]))
    def answer_probes(self, data: st.DataObject, outcome: str) -> None:
        """A worker answers one probe of the job's, in any order: headers (some not an
        image, some out of memory), or its worker died or hung under all of it."""
        probe = self.peers.probes.pop(data.draw(st.integers(0, len(self.peers.probes) - 1)))
        answers = []
        awaited = {i.index for i in self.job.live_items()
                   if i.state is ItemStatus.PROBING and i.awaiting}
        suspects = set()
        for item in probe.items:
            failure = outcome if outcome != "read" else data.draw(st.sampled_from(
                [None] * 8 + ["input.not_image", "resource.memory"]))
            if failure is None:
                answers.append(_read(item.index, item.probe, self.header_of(item.index)))
            else:
                answers.append(HeaderRead(index=item.index, path=item.path, probe=item.probe,
                                          reason=failure, message="broke", worker=0))
            if failure in ("worker.crashed", "worker.timeout") and len(probe.items) > 1:
                self.solo.add(item.index)  # each is probed again alone
                suspects.add(item.index)
        answer = HeadersRead(job_id="j", outcomes=tuple(answers))
        self.peers.probed.append(answer)
        asked = len(self.peers.probes)
        self.tell(answer)
        # Which file of a shared probe broke its worker is unknown: none is charged,
        # each one still waited for is probed again, alone.
        again = {i.index for p in self.peers.probes[asked:] if len(p.items) == 1
                 for i in p.items}
        assert (suspects & awaited) <= again, (suspects, awaited, again)
        assert not (suspects & awaited) & set(self.peers.decisions), "a suspect was charged"

    @precondition(lambda self: self.peers.probed)
    @rule(data=st.data())
    def repeat_a_probe_answer(self, data: st.DataObject) -> None:
        self.tell(data.draw(st.sampled_from(self.peers.probed)))

    @precondition(lambda self: set(self.peers.requested) - self.peers.granted)
    @rule(data=st.data())
    def grant(self, data: st.DataObject) -> None:
        lease_id = data.draw(st.sampled_from(sorted(set(self.peers.requested)
                                                    - self.peers.granted)))
        self.peers.granted.add(lease_id)
        self.tell(LeaseGranted(lease_id=lease_id, memory_mb=1, cpu_slots=1))

    @precondition(lambda self: self.peers.granted)
    @rule(data=st.data())
    def grant_again(self, data: st.DataObject) -> None:
        lease_id = data.draw(st.sampled_from(sorted(self.peers.granted)))
        self.tell(LeaseGranted(lease_id=lease_id, memory_mb=1, cpu_slots=1))

    @precondition(lambda self: self.peers.work)
    @rule(data=st.data(), outcome=st.sampled_from(
        ["done", "io.transient", "input.truncated", "worker.crashed", "resource.memory"]))
    def answer_work(self, data: st.DataObject, outcome: str) -> None:
        work = self.peers.work.pop(data.draw(st.integers(0, len(self.peers.work) - 1)))
        answer = _answer(work, outcome)
        self.peers.answered.append(answer)
        self.tell(answer)

    @precondition(lambda self: self.peers.answered)
    @rule(data=st.data())
    def repeat_an_answer(self, data: st.DataObject) -> None:
        self.tell(data.draw(st.sampled_from(self.peers.answered)))

    @precondition(lambda self: self.peers.decisions)
    @rule(data=st.data(), kind=st.sampled_from(["retry", "degrade", "skip", "fail", "abort"]))
    def decide(self, data: st.DataObject, kind: str) -> None:
        index = data.draw(st.sampled_from(sorted(self.peers.decisions)))
        ask = self.peers.decisions.pop(index)
        self.tell(_decision(ask, kind))

    @precondition(lambda self: self.peers.timers)
    @rule()
    def a_backoff_ends(self) -> None:
        self.tell(self.peers.timers.pop(0))

    @precondition(lambda self: self.peers.replaying)
    @rule()
    def replay_ends(self) -> None:
        self.peers.replaying = False
        self.tell(ReplayDone())

    @precondition(lambda self: self.peers.close is not None)
    @rule(fails=st.booleans())
    def the_export_closes(self, fails: bool) -> None:
        self.peers.close = None
        reason = "output.no_space" if fails else None
        self.tell(ExportClosed(job_id="j", files=("summary.json",), reason=reason))

    @rule(abandon=st.booleans())
    def cancel(self, abandon: bool) -> None:
        self.tell(CancelJob(job_id="j", abandon=abandon))

    @rule()
    def the_export_fails(self) -> None:
        self.tell(ExportFailed(job_id="j", reason="output.no_space", message="disk full"))

    @rule()
    def the_runtime_breaks(self) -> None:
        self.tell(StopJob(JobStatus.ABORTED, "runtime.broken", "actors died"))

    @rule(role=st.sampled_from(ROLES))
    def a_peer_restarts(self, role: str) -> None:
        # The new peer knows nothing its predecessor held.
        if role == Role.RESOURCE_MANAGER:
            self.peers.requested.clear()
            self.peers.granted.clear()
        elif role == Role.PROCESSOR_POOL:
            self.peers.work.clear()
            self.peers.probes.clear()
        elif role == Role.SUPERVISOR:
            self.peers.decisions.clear()
        self.tell(PeerRestarted(role))

    # -- what must always hold ------------------------------------------------

    @invariant()
    def every_item_is_live_or_ended_once(self) -> None:
        counts = self.job.counts()
        assert counts.finished + len(self.job.live_items()) == counts.total
        assert all(n == 1 for n in self.final_rows.values()), self.final_rows

    @invariant()
    def an_item_holds_a_lease_exactly_while_leasing_or_running(self) -> None:
        for item in self.job.live_items():
            assert item.state in TRANSITIONS
            leased = item.state in (ItemStatus.LEASING, ItemStatus.RUNNING)
            assert bool(item.lease) == leased, (item.index, item.state, item.lease)
        assert set(self.job.open_leases()) <= set(self.peers.requested) | self.peers.granted

    @invariant()
    def a_stopping_job_queues_nothing(self) -> None:
        # Nothing is dispatched once the job stops: an item queued then would wait
        # for ever, and the job with it.
        if self.job.stopping is not None:
            queued = [i.index for i in self.job.live_items() if i.state is ItemStatus.QUEUED]
            assert not queued, queued

    @invariant()
    def progress_counts_the_running_items(self) -> None:
        running = sum(item.state is ItemStatus.RUNNING for item in self.job.live_items())
        assert self.job.progress().running == running

    def teardown(self) -> None:
        """Answer everything as a healthy runtime would: the job must end, exactly."""
        if not hasattr(self, "job"):
            return
        for _ in itertools.count():
            assert _ < 10_000, "the job never ended"
            if self.result is not None:
                break
            if self.peers.read is not False:
                self.answer_read()
            elif self.peers.probes:
                probe = self.peers.probes.pop(0)
                self.tell(HeadersRead(job_id="j", outcomes=tuple(
                    _read(i.index, i.probe, SMALL) for i in probe.items)))
            elif set(self.peers.requested) - self.peers.granted:
                lease_id = min(set(self.peers.requested) - self.peers.granted)
                self.peers.granted.add(lease_id)
                self.tell(LeaseGranted(lease_id=lease_id, memory_mb=1, cpu_slots=1))
            elif self.peers.work:
                self.tell(_answer(self.peers.work.pop(0), "done"))
            elif self.peers.decisions:
                self.tell(_decision(self.peers.decisions.pop(min(self.peers.decisions)), "skip"))
            elif self.peers.timers:
                self.tell(self.peers.timers.pop(0))
            elif self.peers.replaying:
                self.replay_ends()
            elif self.peers.close is not None:
                self.the_export_closes(fails=False)
            else:
                raise AssertionError(f"the job waits for nothing and has not ended: "
                                     f"{[(i.index, i.state) for i in self.job.live_items()]}")
        assert self.result is not None
        counts = self.result.counts
        assert counts.finished == counts.total
        # Indices are identities: an earlier run's keep theirs, new inputs take new ones.
        assert len(set(self.finished) | self.kept) == counts.total
        assert not set(self.finished) & self.kept, "a kept item ran again"
        assert self.exported == set(self.finished) | self.kept, "the export holds each once"
        assert not self.peers.requested, f"leases never released: {self.peers.requested}"
        assert not self.job.live_items()
        assert self.recorded_finish


def _read(index: int, probe: int, header: ImageHeader) -> HeaderRead:
    probed = ProbedFile(header=header, device=1, inode=index, size=100, mtime_ns=1)
    return HeaderRead(index=index, path=Path(f"/in/{index}.png"), probe=probe, probed=probed,
                      worker=0)


def _answer(work: Process | ProcessBatch, outcome: str) -> Any:
    items = work.items if isinstance(work, ProcessBatch) else (work,)
    answers = [
        ItemDone(job_id="j", index=i.index, attempt=i.attempt, run=i.run, result=RESULT,
                 worker=0)
        if outcome == "done"
        else ItemFailed(job_id="j", index=i.index, attempt=i.attempt, run=i.run,
                        reason=outcome, message="broke", worker=0)
        for i in items
    ]
    if isinstance(work, ProcessBatch):
        return BatchDone(job_id="j", outcomes=tuple(answers))
    return answers[0]


def _decision(ask: DecideRecovery, kind: str) -> Any:
    key = {"job_id": "j", "index": ask.index, "attempt": ask.attempt}
    return {
        "retry": lambda: Retry(**key, after_s=0.1),
        "degrade": lambda: Degrade(**key, reduce=2),
        "skip": lambda: Skip(**key, reason=ask.reason, message=ask.message),
        "fail": lambda: Fail(**key, reason=ask.reason, message=ask.message),
        "abort": lambda: AbortJob(**key, reason=ask.reason, message=ask.message),
    }[kind]()


JobMachine.TestCase.settings = settings(
    max_examples=400, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_job_lifecycle_holds_its_invariants_under_any_events = JobMachine.TestCase


def test_every_state_but_the_final_ones_has_a_way_out() -> None:
    finals = {status for status in ItemStatus if status.final}
    assert set(TRANSITIONS) == set(ItemStatus) - finals
    assert all(TRANSITIONS[state] & finals for state in TRANSITIONS)


@pytest.mark.parametrize("bad", [ItemStatus.DONE, ItemStatus.RUNNING])
def test_a_move_outside_the_table_is_refused(bad: ItemStatus) -> None:
    from pixelmill.actors.job_lifecycle import Item
    from pixelmill.errors import InternalError

    order = JobOrder(job_id="j", name="j", inputs=("/in",), pipeline=Pipeline(),
                     output_dir=None, export_dir=Path("/out"))
    job = Job(order, reply_to=None, clock=FakeClock())
    item = Item(index=0, input=Input(path=Path("/in/0.png"), stem="0", rel_dir=""))
    with pytest.raises(InternalError, match="not allowed"):
        job._move(item, bad)  # noqa: SLF001 - the one place moves are checked


def _sent(effects: list[Any], kind: type) -> list[Any]:
    return [e.message for e in effects if isinstance(e, Send) and isinstance(e.message, kind)]


def test_a_batch_that_crashes_after_its_job_stopped_ends_its_items_and_the_job() -> None:
    # Found by the state machine: the batch's items went back to the queue of a
    # job that dispatches nothing any more, and the job never ended.
    order = JobOrder(job_id="j", name="j", inputs=("/in",), pipeline=Pipeline(),
                     output_dir=None, export_dir=Path("/out"))
    job = Job(order, reply_to=None, window=1, batch_max=3, clock=FakeClock())
    job.start()
    effects = job.handle(InputsRead(inputs=tuple(
        Input(path=Path(f"/in/{i}.png"), stem=str(i), rel_dir="", size=100, mtime_ns=1)
        for i in range(3)), end=True))
    (probe,) = _sent(effects, ProbeHeaders)
    effects = job.handle(HeadersRead(job_id="j", outcomes=tuple(
        _read(i.index, i.probe, SMALL) for i in probe.items)))
    (request,) = _sent(effects, RequestLease)
    (batch,) = _sent(job.handle(LeaseGranted(lease_id=request.lease_id, memory_mb=1,
                                             cpu_slots=1)), ProcessBatch)
    job.handle(ExportFailed(job_id="j", reason="output.no_space", message="disk full"))

    effects = job.handle(_answer(batch, "worker.crashed"))

    ended = {(f.index, f.status) for f in _sent(effects, ItemFinished)}
    assert ended == {(0, ItemStatus.SKIPPED), (1, ItemStatus.SKIPPED), (2, ItemStatus.SKIPPED)}
    assert [r.lease_id for r in _sent(effects, ReleaseLease)] == [request.lease_id]
    assert not job.live_items()
    assert _sent(effects, CloseExport), "the stopped job closes its export"
