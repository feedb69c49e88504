"""The JobManager's record of which items each of its leases covers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pixelmill.actors._job_state import Item

__all__ = ["LeaseBook"]


class LeaseBook:
    """Leases by id, each covering one item or a batch of small ones run together.

    A lease is released once no item it covers still needs it: every item of
    a batch has returned, or was cancelled before the lease was granted.
    """

    def __init__(self) -> None:
        self._covers: dict[str, tuple[str, set[int]]] = {}

    def open(self, job_id: str, items: Sequence[Item]) -> str:
        """A new lease for `items` (all of job `job_id`); each item learns its id."""
        first = items[0]
        lease_id = f"{job_id}/{first.index}/{first.attempt}"
        if len(items) > 1:
            lease_id += f"+{len(items)}"
        self._covers[lease_id] = (job_id, {item.index for item in items})
        for item in items:
            item.lease = lease_id
        return lease_id

    def covered(self, lease_id: str) -> tuple[str, set[int]] | None:
        """(job id, item indices) of a lease still open, else None."""
        return self._covers.get(lease_id)

    def drop(self, item: Item) -> str | None:
        """`item` no longer needs its lease: the lease's id if nothing else does."""
        covers = self._covers.get(item.lease)
        if covers is None:
            return None
        covers[1].discard(item.index)
        if covers[1]:
            return None
        del self._covers[item.lease]
        return item.lease

    def forget(self, lease_id: str) -> None:
        self._covers.pop(lease_id, None)
