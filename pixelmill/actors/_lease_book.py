"""A job's record of which items each of its leases covers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from pixelmill.actors.job_lifecycle import Item

__all__ = ["LeaseBook"]


class LeaseBook:
    """Leases by id, each covering one item or a batch of small ones run together.

    A lease is released once no item it covers still needs it: every item of
    a batch has returned, or was cancelled before the lease was granted.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._opened = 0
        self._covers: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._covers)

    def __iter__(self) -> Iterator[tuple[str, frozenset[int]]]:
        return iter([(lease_id, frozenset(covered)) for lease_id, covered in self._covers.items()])

    def open(self, items: Sequence[Item]) -> str:
        """A new lease for `items`, unique to this book; each item learns its id."""
        self._opened += 1
        lease_id = f"{self._prefix}/{self._opened}"
        self._covers[lease_id] = {item.index for item in items}
        for item in items:
            item.lease = lease_id
        return lease_id

    def covered(self, lease_id: str) -> frozenset[int] | None:
        """The item indices of a lease still open, else None."""
        covered = self._covers.get(lease_id)
        return None if covered is None else frozenset(covered)

    def drop(self, item: Item) -> str | None:
        """`item` no longer needs its lease: the lease's id if nothing else does."""
        lease_id, item.lease = item.lease, ""
        covers = self._covers.get(lease_id)
        if covers is None:
            return None
        covers.discard(item.index)
        if covers:
            return None
        del self._covers[lease_id]
        return lease_id
