"""How the JobManager moves items to workers: read ahead, lease, dispatch, take back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pixelmill.actors._lease_book import LeaseBook
from pixelmill.actors.base import Role
from pixelmill.errors import PixelmillError
from pixelmill.imaging.pipeline import OutputTarget, estimate_decode_mp, estimate_memory_mb
from pixelmill.imaging.safe_open import probe
from pixelmill.messages import (
    BatchItem,
    ItemDone,
    ItemFailed,
    ItemStatus,
    Process,
    ProcessBatch,
    ReleaseLease,
    RequestLease,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from structlog.typing import FilteringBoundLogger

    from pixelmill.actors._job_state import Item, Job
    from pixelmill.imaging.pipeline import ItemResult

__all__ = ["ItemFlow"]

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
_RUN_AGAIN = ("worker.crashed", "worker.timeout")
"""A batch's failures that belong to one unknown item of it, not to each."""


class ItemFlow:
    """The JobManager's half that feeds workers: each item leased, run, and taken back once.

    Items are read ahead and their headers probed (`LOOKAHEAD`), then leased
    costliest first; small ones share a lease and a `ProcessBatch`. A mixin
    of `JobManager` only, running in its thread.
    """

    _jobs: dict[str, Job]
    _window: int
    _batch_max: int
    _admission_control: bool
    _leases: LeaseBook
    actor_log: FilteringBoundLogger
    actor_ref: Any
    __slots__ = ()

    if TYPE_CHECKING:  # provided by JobManager, JobEnding and their Actor base

        def send(self, role: str, message: Any) -> None: ...

        def _close(self, job: Job) -> None: ...

        def _item_failed(
            self, job: Job, item: Item, reason: str, message: str, *, worker: int | None
        ) -> None: ...

        def _finish_item(
            self, job: Job, item: Item, status: ItemStatus, *, result: ItemResult | None = None
        ) -> None: ...

    def _pump(self) -> None:
        for job in sorted(self._jobs.values(), key=lambda j: (j.order.priority, j.seq)):
            self._pump_job(job)
            if job.expanded and job.idle() and not job.closing:
                self._close(job)

    def _pump_job(self, job: Job) -> None:
        batch: list[Item] = []
        batch_mp = 0.0
        while job.stopping is None and _leases_waiting(job) < self._window:
            item = self._next_item(job, read_ahead=True)
            if item is None:
                break
            if (
                item.solo or item.reduce != 1 or item.header is None
                or item.decode_mp > BATCH_ITEM_MP
            ):
                self._request_lease(job, [item])
                continue
            batch.append(item)
            batch_mp += item.decode_mp
            if len(batch) == self._batch_max or batch_mp >= BATCH_MP:
                self._request_lease(job, batch)
                batch, batch_mp = [], 0.0
        if batch:
            self._request_lease(job, batch)

    def _next_item(self, job: Job, *, read_ahead: bool = False) -> Item | None:
        if job.ready:
            return job.ready.popleft()
        if read_ahead:
            self._read_ahead(job)
        return job.lookahead.pop() or job.next_input()

    def _read_ahead(self, job: Job) -> None:
        while len(job.lookahead) < LOOKAHEAD and (item := job.next_input()) is not None:
            if self._probed(job, item):
                assert item.header is not None
                item.decode_mp = estimate_decode_mp(item.header, job.pipeline)
                job.lookahead.push(item, item.decode_mp)

    def _probed(self, job: Job, item: Item) -> bool:
        """Read `item`'s header once; False (and the item failed) if it shows a bad input."""
        if item.header is not None:
            return True
        try:
            item.header = probe(item.input.path)
        except PixelmillError as exc:
            # The header alone shows the input is bad: no need to use a worker.
            self._item_failed(job, item, exc.reason, str(exc), worker=None)
            return False
        return True

    def _request_lease(self, job: Job, items: Sequence[Item]) -> None:
        leased: list[Item] = []
        for item in items:
            if not self._probed(job, item):
                continue
            assert item.header is not None
            item.memory_mb = estimate_memory_mb(
                item.header, job.pipeline, reduce=item.reduce, validate=False
            )
            leased.append(item)
        if not leased:
            return
        lease_id = self._leases.open(job.job_id, leased)
        for item in leased:
            item.batched = len(leased) > 1
            job.waiting[item.index] = item
        self._send_lease_request(job, lease_id, leased)

    def _send_lease_request(self, job: Job, lease_id: str, items: Sequence[Item]) -> None:
        # A batch runs its items one after another: its peak is the largest one's.
        memory_mb = max(item.memory_mb for item in items)
        self.send(
            Role.RESOURCE_MANAGER,
            RequestLease(
                lease_id=lease_id,
                # Without admission control only the CPU slots bound the work.
                memory_mb=memory_mb if self._admission_control else 0,
                cpu_slots=1,
                priority=int(job.order.priority),
                reply_to=self.actor_ref,
            ),
        )

    def _release(self, job: Job, item: Item) -> None:
        lease_id = self._leases.drop(item)
        if lease_id is not None:
            self.send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id))

    def _granted(self, lease_id: str) -> None:
        covered = self._leases.covered(lease_id)
        job = self._jobs.get(covered[0]) if covered else None
        indices = sorted(covered[1]) if covered else []
        if job is not None and all(index in job.running for index in indices):
            return  # a running lease, re-granted by a restarted ResourceManager
        items = [job.waiting.pop(index) for index in indices if index in job.waiting] if job else []
        if job is None or not items:
            self._leases.forget(lease_id)
            self.send(Role.RESOURCE_MANAGER, ReleaseLease(lease_id=lease_id))
            return
        now = time.monotonic()
        for item in items:
            job.running[item.index] = item
            item.started = item.started or now
        self._dispatch(job, items)

    def _dispatch(self, job: Job, items: Sequence[Item]) -> None:
        order = job.order
        targets = [
            OutputTarget(output_dir=order.output_dir, stem=i.input.stem, rel_dir=i.input.rel_dir)
            for i in items
        ]
        work: Process | ProcessBatch
        if len(items) == 1 and not items[0].batched:
            (item,) = items
            work = Process(
                job_id=job.job_id,
                index=item.index,
                path=item.input.path,
                pipeline=order.pipeline,
                target=targets[0],
                attempt=item.attempt,
                reduce=item.reduce,
                plugins=order.plugins,
                reply_to=self.actor_ref,
            )
        else:
            work = ProcessBatch(
                job_id=job.job_id,
                items=tuple(
                    BatchItem(index=i.index, path=i.input.path, target=t, attempt=i.attempt)
                    for i, t in zip(items, targets, strict=True)
                ),
                pipeline=order.pipeline,
                plugins=order.plugins,
                reply_to=self.actor_ref,
            )
        self.send(Role.PROCESSOR_POOL, work)

    def _redispatch(self, job: Job) -> None:
        """Send every running item again, in the groups they were leased in."""
        for lease_items in _by_lease(job.running.values()):
            self._dispatch(job, lease_items)

    def _rerequest(self, job: Job) -> None:
        """Ask again for every lease held or awaited (a new ResourceManager knows none)."""
        for lease_items in _by_lease([*job.running.values(), *job.waiting.values()]):
            self._send_lease_request(job, lease_items[0].lease, lease_items)

    def _returned(self, message: ItemDone | ItemFailed, *, from_batch: bool = False) -> None:
        job = self._jobs.get(message.job_id)
        item = job.running.get(message.index) if job else None
        # A batch's item run again alone keeps its attempt: an answer from the
        # batch (a duplicate, after a pool restart) is then stale too.
        if (
            job is None or item is None or item.attempt != message.attempt
            or item.batched != from_batch
        ):
            self.actor_log.info("item.stale_result", job_id=message.job_id, index=message.index)
            return
        del job.running[item.index]
        self._release(job, item)
        if isinstance(message, ItemDone):
            self._finish_item(job, item, ItemStatus.DONE, result=message.result)
        elif item.batched and message.reason in _RUN_AGAIN:
            # Which item of the batch crashed or hung is unknown: each runs
            # again alone, this attempt not counted, and only that one fails.
            self.actor_log.info(
                "item.batch_rerun", job_id=job.job_id, item=str(item.input.path),
                reason=message.reason,
            )
            item.solo, item.batched = True, False
            job.ready.append(item)
        else:
            self._item_failed(job, item, message.reason, message.message, worker=message.worker)


def _leases_waiting(job: Job) -> int:
    return len({item.lease for item in job.waiting.values()})


def _by_lease(items: Sequence[Item] | Any) -> list[list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.lease, []).append(item)
    return list(groups.values())
