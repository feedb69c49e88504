"""One pass over log records: per-job timelines, grouped errors, the slowest items.

Memory grows with the number of jobs, error reasons and retried items, never
with the number of records, so a summary of a long log costs a read of it.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from pixelmill.messages import JobCounts

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from rich.console import Console

__all__ = [
    "ErrorGroup",
    "JobTimeline",
    "LogSummary",
    "SlowItem",
    "render_summary",
    "summarize",
    "timestamp_of",
]

EXAMPLES = 3
"""Example files kept per error group."""

_ERROR_EVENTS = frozenset({"item.failed", "export.failed", "actor.crashed"})
# Who restarted, by the field each event names it with.
_RESTART_EVENTS = {"actor.restarted": "role", "processor.restarted": "worker",
                   "worker.replaced": "why"}
_STATUS_STYLES = {"completed": "green", "cancelled": "yellow", "aborted": "red"}


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTimeline:
    """One job as its records tell it, from `job.submitted` to `job.finished`.

    Timestamps are the log's own ISO strings; a field is None when the log
    holds no record for it (it starts after the job was submitted, or the job
    was still running when it ends).
    """

    job_id: str
    name: str | None = None
    submitted: str | None = None
    first_item: str | None = None
    """When the first `item.done` or `item.failed` was logged."""
    finished: str | None = None
    status: str | None = None
    """`completed`, `cancelled` or `aborted`, from `job.finished`."""
    reason: str | None = None
    """The reason class an aborted job stopped for."""
    duration_ms: float | None = None
    counts: JobCounts | None = None
    """The item counts `job.finished` reported."""
    items_done: int = 0
    """`item.done` records seen, so an unfinished job still shows its progress."""
    item_failures: int = 0
    """`item.failed` records: one per failed attempt, so a retried item may count twice."""
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorGroup:
    """The failures of one reason class (`input.truncated`), counted over all jobs."""

    reason: str
    """The record's `reason`, or its event for errors that carry none (`runtime.broken`)."""
    count: int
    examples: tuple[str, ...]
    """Up to `EXAMPLES` distinct item paths, in the order they failed."""
    message: str | None
    """The first failure's `error` text."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlowItem:
    """One `item.done` record among the slowest."""

    item: str
    duration_ms: float
    job_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSummary:
    """What `summarize` found; `as_dict` is the `--summary --json` document."""

    records: int
    first: str | None
    """The timestamp of the first record read."""
    last: str | None
    events: dict[str, int]
    """Records per event, most frequent first."""
    jobs: tuple[JobTimeline, ...]
    """In the order the log first mentions them."""
    errors: tuple[ErrorGroup, ...]
    """Most frequent first."""
    slowest: tuple[SlowItem, ...]
    """Slowest first; ties keep log order."""
    retries: int
    """`item.retry` records."""
    items_retried: int
    """Distinct items those retries were for."""
    restarts: dict[str, dict[str, int]]
    """Per restart event, how often each role, worker or cause came up."""
    dead_letters: dict[str, int]
    """Undeliverable messages per message type."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types, field for field."""
        return asdict(self)


def timestamp_of(record: Mapping[str, Any]) -> datetime | None:
    """The record's `timestamp` as an aware UTC datetime; None if missing or not ISO."""
    text = record.get("timestamp")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def summarize(records: Iterable[Mapping[str, Any]], *, slowest: int = 10) -> LogSummary:
    """Read records once and summarise them.

    Args:
        records: log records in log order, e.g. from `read_records`.
        slowest: how many of the slowest items to keep.

    Returns:
        The summary; records that lack a field simply do not count towards it.
    """
    tally = _Tally(slowest)
    for record in records:
        tally.add(record)
    return tally.summary()


class _Tally:
    """The running aggregates of `summarize`; the only state it keeps."""

    def __init__(self, slowest: int) -> None:
        self.records = 0
        self.first: str | None = None
        self.last: str | None = None
        self.events: Counter[str] = Counter()
        self.jobs: dict[str, JobTimeline] = {}
        self.job_events: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, list[str]] = defaultdict(list)
        self.error_messages: dict[str, str] = {}
        # Invariant: a min-heap of at most `slowest_n` entries, so its root is
        # the fastest kept item, the one a slower item evicts.
        self.slowest: list[tuple[float, int, str, str | None]] = []
        self.slowest_n = slowest
        self.retried: set[tuple[str | None, str]] = set()
        self.restarts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.dead_letters: Counter[str] = Counter()

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        stamp = record.get("timestamp")
        if isinstance(stamp, str):
            self.first = self.first or stamp
            self.last = stamp
        event = str(record.get("event", ""))
        self.events[event] += 1
        job_id = record.get("job_id")
        if isinstance(job_id, str):
            self._add_to_job(job_id, event, record)
        item = record.get("item")
        if event in _ERROR_EVENTS or record.get("level") in ("error", "critical"):
            self._add_error(event, record)
        elif event == "item.done" and isinstance(item, str):
            self._add_duration(record, item, job_id if isinstance(job_id, str) else None)
        elif event == "item.retry" and isinstance(item, str):
            self.retried.add((job_id, item))
        elif event in _RESTART_EVENTS:
            self.restarts[event][str(record.get(_RESTART_EVENTS[event], "?"))] += 1
        elif event == "dead_letter":
            self.dead_letters[str(record.get("message_type", "?"))] += 1

    def _add_to_job(self, job_id: str, event: str, record: Mapping[str, Any]) -> None:
        job = self.jobs.get(job_id) or JobTimeline(job_id=job_id)
        stamp = record.get("timestamp")
        self.job_events[job_id, event] += 1
        # The rare events replace the frozen timeline; the frequent ones only count.
        if event == "job.submitted":
            job = replace(job, name=record.get("name"), submitted=stamp)
        elif event in ("item.done", "item.failed") and job.first_item is None:
            job = replace(job, first_item=stamp)
        elif event == "job.finished":
            job = replace(
                job, finished=stamp, status=record.get("status"), reason=record.get("reason"),
                duration_ms=record.get("duration_ms"), counts=_counts(record),
            )
        self.jobs[job_id] = job

    def _add_error(self, event: str, record: Mapping[str, Any]) -> None:
        reason = str(record.get("reason") or event)
        self.errors[reason] += 1
        error = record.get("error")
        if error is not None:
            self.error_messages.setdefault(reason, str(error))
        examples = self.error_examples[reason]
        item = record.get("item")
        if isinstance(item, str) and len(examples) < EXAMPLES and item not in examples:
            examples.append(item)

    def _add_duration(self, record: Mapping[str, Any], item: str, job_id: str | None) -> None:
        duration = record.get("duration_ms")
        if not isinstance(duration, int | float) or self.slowest_n <= 0:
            return
        # -records: of equal durations the later one is evicted first.
        entry = (float(duration), -self.records, item, job_id)
        if len(self.slowest) < self.slowest_n:
            heapq.heappush(self.slowest, entry)
        else:
            heapq.heappushpop(self.slowest, entry)

    def summary(self) -> LogSummary:
        jobs = tuple(
            replace(
                job,
                items_done=self.job_events[job.job_id, "item.done"],
                item_failures=self.job_events[job.job_id, "item.failed"],
                retries=self.job_events[job.job_id, "item.retry"],
            )
            for job in self.jobs.values()
        )
        return LogSummary(
            records=self.records,
            first=self.first,
            last=self.last,
            events=dict(self.events.most_common()),
            jobs=jobs,
            errors=tuple(
                ErrorGroup(reason=reason, count=count, examples=tuple(self.error_examples[reason]),
                           message=self.error_messages.get(reason))
                for reason, count in self.errors.most_common()
            ),
            slowest=tuple(
                SlowItem(item=item, duration_ms=duration, job_id=job_id)
                for duration, _, item, job_id in sorted(self.slowest, reverse=True)
            ),
            retries=self.events["item.retry"],
            items_retried=len(self.retried),
            restarts={event: dict(who.most_common()) for event, who in self.restarts.items()},
            dead_letters=dict(self.dead_letters.most_common()),
        )


def _counts(record: Mapping[str, Any]) -> JobCounts | None:
    try:
        return JobCounts(**{key: int(record[key]) for key in
                            ("total", "done", "failed", "skipped", "cancelled")})
    except (KeyError, TypeError, ValueError):
        return None


def render_summary(summary: LogSummary, console: Console, *, as_json: bool) -> None:
    """Print the summary as rich tables, or as one JSON document.

    Args:
        summary: from `summarize`.
        console: where to print; JSON goes straight to `console.file`, unstyled.
        as_json: print `summary.as_dict()` as indented JSON instead of tables.
    """
    if as_json:
        console.file.write(json.dumps(summary.as_dict(), indent=2) + "\n")
        console.file.flush()
        return
    console.print(_headline(summary), highlight=False)
    tables = [
        _table("jobs", "job,name,submitted,first item,status,duration,>total,>done,>failed,"
               ">skipped,>cancelled,>retries", map(_job_row, summary.jobs)),
        _table("errors by reason", "reason,>count,examples,first message", (
            (Text(e.reason, style="red"), str(e.count), Text("\n".join(e.examples)),
             Text(_without_path(e.message or "", e.examples)))
            for e in summary.errors)),
        _table("slowest items", ">duration,item,job", (
            (_duration(s.duration_ms), Text(s.item), (s.job_id or "")[:8])
            for s in summary.slowest)),
        _table("events", "event,>count", ((Text(e), str(n)) for e, n in summary.events.items())),
        _table("retries, restarts, dead letters", "event,who,>count", _recovery_rows(summary)),
    ]
    for table in tables:
        if table.row_count:
            console.print(table)


def _table(title: str, columns: str, rows: Iterable[Sequence[str | Text]]) -> Table:
    """A table of `columns` (comma-separated; a leading `>` aligns right)."""
    table = Table(title=title, title_justify="left")
    for column in columns.split(","):
        table.add_column(column.lstrip(">"), justify="right" if column[0] == ">" else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _headline(summary: LogSummary) -> str:
    span = ""
    first, last = (timestamp_of({"timestamp": t}) for t in (summary.first, summary.last))
    if first and last:
        span = f", {first:%Y-%m-%d %H:%M:%S} to {last:%H:%M:%S} UTC"
    jobs = len(summary.jobs)
    return f"{summary.records} records{span}, {jobs} job{'' if jobs == 1 else 's'}"


def _job_row(job: JobTimeline) -> list[str | Text]:
    submitted = timestamp_of({"timestamp": job.submitted})
    first = timestamp_of({"timestamp": job.first_item})
    status = Text(job.status or "unfinished", style=_STATUS_STYLES.get(job.status or "", "dim"))
    if job.reason:
        status.append(f" ({job.reason})")
    counts = ([str(n) for n in job.counts.as_dict().values()] if job.counts
              else ["?", str(job.items_done), "?", "?", "?"])
    return [
        job.job_id[:8],
        Text(job.name or ""),
        f"{submitted:%H:%M:%S.%f}"[:12] if submitted else "",
        f"+{_duration((first - submitted).total_seconds() * 1000)}" if first and submitted else "",
        status,
        _duration(job.duration_ms) if job.duration_ms is not None else "",
        *counts,
        str(job.retries),
    ]


def _recovery_rows(summary: LogSummary) -> Iterator[tuple[str, Text, str]]:
    if summary.retries:
        yield "item.retry", Text(f"{summary.items_retried} items"), str(summary.retries)
    for event, who in summary.restarts.items():
        for name, count in who.items():
            yield event, Text(name), str(count)
    for message_type, count in summary.dead_letters.items():
        yield "dead_letter", Text(message_type), str(count)


def _without_path(message: str, paths: Sequence[str]) -> str:
    """The message without the item path it starts with, which the row shows already."""
    if paths and message.startswith(paths[0] + ": "):
        return message[len(paths[0]) + 2:]
    return message


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"
