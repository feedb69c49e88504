"""One pass over a job's records, keeping what a report shows: counts, bins, bounded lists."""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pixelmill.messages.jobs import FINAL_STATUSES, ItemStatus

__all__ = [
    "CHANNELS",
    "Distribution",
    "GalleryItem",
    "JobDigest",
    "Lowest",
    "ProblemItem",
    "ReasonGroup",
    "digest_records",
]

CHANNELS = ("r", "g", "b")
STATUSES = tuple(status.value for status in FINAL_STATUSES)
SUCCEEDED = frozenset(status for status in ItemStatus if status.succeeded)
"""Statuses whose items were measured: worked now, or taken from the result cache."""
OTHER_REASONS = "(other reasons)"
"""The group that takes every reason past `max_reasons`, so a flood of distinct
reasons cannot grow the report without bound."""
NO_REASON = "(no reason)"

T = TypeVar("T")


class Lowest(Generic[T]):
    """The `limit` entries with the lowest keys among all offered, in bounded memory.

    Entries are built only when they get in (`make` is not called otherwise),
    so a stream of 100,000 offers builds at most a few hundred of them.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.offered = 0
        """How many were offered, kept or not."""
        self._heap: list[tuple[int, int, T]] = []
        self._order = itertools.count()

    def offer(self, key: int, make: Callable[[], T]) -> None:
        """Keep `make()` if `key` is among the `limit` lowest so far."""
        self.offered += 1
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, (-key, next(self._order), make()))
        elif self._heap and -self._heap[0][0] > key:
            heapq.heapreplace(self._heap, (-key, next(self._order), make()))

    def __len__(self) -> int:
        return len(self._heap)

    def sorted(self) -> list[T]:
        """The kept entries, lowest key first (ties in the order offered)."""
        return [entry for _, _, entry in sorted(self._heap, key=lambda e: (-e[0], e[1]))]


@dataclass(slots=True)
class Distribution:
    """Counts of a measurement in fixed bins, plus its count, mean and range.

    Values below the first edge count in the first bin, values above the last
    edge in the last one; the exact range is kept apart, in `low` and `high`.
    """

    edges: tuple[float, ...]
    """`len(counts) + 1` increasing bin edges."""
    log: bool = False
    """The edges are spaced on a log scale (the chart labels them so)."""
    counts: list[int] = field(default_factory=list)
    n: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.edges) - 1)

    @classmethod
    def linear(cls, low: float, high: float, bins: int) -> Distribution:
        """`bins` equal bins from `low` to `high`."""
        step = (high - low) / bins
        return cls(edges=tuple(low + step * i for i in range(bins + 1)))

    @classmethod
    def decades(cls, first: int, last: int, per_decade: int) -> Distribution:
        """Log-spaced bins from 10**first to 10**last, `per_decade` bins a decade."""
        steps = range(first * per_decade, last * per_decade + 1)
        return cls(edges=tuple(10 ** (k / per_decade) for k in steps), log=True)

    def add(self, value: float) -> None:
        """Count one value (finite, as `number` gives)."""
        index = min(max(bisect_right(self.edges, value) - 1, 0), len(self.counts) - 1)
        self.counts[index] += 1
        self.n += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    @property
    def mean(self) -> float | None:
        """The mean of the values counted, or None before the first."""
        return self.total / self.n if self.n else None


@dataclass(frozen=True, slots=True)
class GalleryItem:
    """A done item as the gallery shows it."""

    index: int
    path: str
    outputs: tuple[str, ...]
    width: int | None
    height: int | None
    histogram: tuple[Sequence[int], Sequence[int], Sequence[int]] | None
    """The r, g and b counts, when the record has a well-formed `rgb_histogram`."""
    luminance: float | None
    sharpness: float | None


@dataclass(frozen=True, slots=True)
class ProblemItem:
    """A failed, skipped or cancelled item as its reason group lists it."""

    index: int
    path: str
    status: str
    message: str


@dataclass(slots=True)
class ReasonGroup:
    """The items that share one reason class, with the first few listed."""

    reason: str
    items: Lowest[ProblemItem]
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        """How many items have this reason, listed or not."""
        return self.items.offered


@dataclass(slots=True)
class JobDigest:
    """Everything the report shows of the records, in memory bounded by its limits."""

    gallery: Lowest[GalleryItem]
    files_per_reason: int
    max_reasons: int
    records: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    retried: int = 0
    """Items that took more than one attempt."""
    done_ms: float = 0.0
    """The summed `duration_ms` of the done items."""
    luminance: Distribution = field(default_factory=lambda: Distribution.linear(0, 256, 32))
    sharpness: Distribution = field(default_factory=lambda: Distribution.decades(-1, 6, 4))
    channel_means: dict[str, Distribution] = field(
        default_factory=lambda: {c: Distribution.linear(0, 256, 32) for c in CHANNELS}
    )

    @property
    def problems(self) -> int:
        """Items listed under some reason: every item not done."""
        return sum(group.count for group in self.reasons.values())

    def add(self, record: Mapping[str, Any]) -> None:
        """Take one record of `results.jsonl` into account; malformed parts are ignored."""
        self.records += 1
        index = _integer(record.get("index"))
        if index is None:
            index = self.records - 1
        status = str(record.get("status") or "unknown")
        self.statuses[status] += 1
        if (_integer(record.get("attempts")) or 1) > 1:
            self.retried += 1
        if status in SUCCEEDED:
            if status == "done":
                self.done_ms += number(record.get("duration_ms")) or 0.0
            self._add_done(index, record)
        else:
            self._add_problem(index, status, record)

    def _add_done(self, index: int, record: Mapping[str, Any]) -> None:
        analyses = _mapping(record.get("analyses"))
        luminance = number(_mapping(analyses.get("luminance")).get("mean"))
        sharpness = number(_mapping(analyses.get("sharpness")).get("laplacian_variance"))
        if luminance is not None:
            self.luminance.add(luminance)
        if sharpness is not None:
            self.sharpness.add(sharpness)
        stats = _mapping(analyses.get("channel_stats"))
        for channel in CHANNELS:
            mean = number(_mapping(stats.get(channel)).get("mean"))
            if mean is not None:
                self.channel_means[channel].add(mean)
        self.gallery.offer(
            index,
            lambda: GalleryItem(
                index=index,
                path=str(record.get("path") or ""),
                outputs=tuple(str(o) for o in _sequence(record.get("outputs"))),
                width=_integer(record.get("width")),
                height=_integer(record.get("height")),
                histogram=_histogram(analyses.get("rgb_histogram")),
                luminance=luminance,
                sharpness=sharpness,
            ),
        )

    def _add_problem(self, index: int, status: str, record: Mapping[str, Any]) -> None:
        reason = str(record.get("reason") or NO_REASON)
        group = self.reasons.get(reason)
        if group is None:
            if len(self.reasons) >= self.max_reasons:
                reason = OTHER_REASONS
            group = self.reasons.setdefault(
                reason, ReasonGroup(reason=reason, items=Lowest(self.files_per_reason))
            )
        group.statuses[status] += 1
        group.items.offer(
            index,
            lambda: ProblemItem(
                index=index,
                path=str(record.get("path") or ""),
                status=status,
                message=str(record.get("message") or ""),
            ),
        )


def digest_records(
    records: Iterable[Mapping[str, Any]],
    *,
    gallery_limit: int,
    files_per_reason: int,
    max_reasons: int = 100,
) -> JobDigest:
    """Read `records` once, keeping counts, bins and the lowest-indexed entries.

    Memory is bounded by the limits, not by the number of records: an
    iterator over a file is never materialised. The gallery keeps the
    `gallery_limit` done items with the lowest indices, each reason group
    the `files_per_reason` lowest, whatever order the records come in.
    """
    digest = JobDigest(
        gallery=Lowest(gallery_limit), files_per_reason=files_per_reason, max_reasons=max_reasons
    )
    for record in records:
        digest.add(record)
    return digest


def number(value: object) -> float | None:
    """`value` as a finite float, or None when it is not a finite number (or is a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _histogram(value: object) -> tuple[Sequence[int], Sequence[int], Sequence[int]] | None:
    channels = _mapping(value)
    counts = [_sequence(channels.get(c)) for c in CHANNELS]
    if all(len(c) == 256 and _all_numbers(c) for c in counts):
        return counts[0], counts[1], counts[2]
    return None


def _all_numbers(values: Sequence[Any]) -> bool:
    # Histograms read back from JSON hold ints only: check their types at C speed.
    if set(map(type, values)) <= {int}:
        return True
    return all(number(n) is not None for n in values)
