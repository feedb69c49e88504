"""Items read ahead of dispatch, their headers probed, handed out costliest first."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixelmill.actors.job_lifecycle import Item

__all__ = ["Lookahead"]


class Lookahead:
    """A heap of probed items by estimated work, largest first.

    Dispatching the longest items first (LPT scheduling) keeps every worker
    busy to the end of a job instead of leaving one to finish a large image
    alone; across the lookahead the order is by estimated work, not index.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Item]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: Item) -> None:
        heapq.heappush(self._heap, (-item.decode_mp, item.index, item))

    def pop(self) -> Item | None:
        return heapq.heappop(self._heap)[2] if self._heap else None

    def drain(self) -> list[Item]:
        """Every item, emptying the lookahead."""
        items = [entry[2] for entry in self._heap]
        self._heap.clear()
        return items
