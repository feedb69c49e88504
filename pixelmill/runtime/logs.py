"""Read pixelmill's JSON-lines logs back: stream, filter, follow, summarise, render.

The library side of `pixelmill logs`. A log line is one JSON object
(`logging.py` writes them); a line that is not one (a torn last line after a
crash, garbage) is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pixelmill.errors import ConfigError
from pixelmill.runtime._log_render import render_records
from pixelmill.runtime._log_summary import (
    ErrorGroup,
    JobTimeline,
    LogSummary,
    SlowItem,
    render_summary,
    summarize,
    timestamp_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence


__all__ = [
    "LEVELS",
    "ErrorGroup",
    "JobTimeline",
    "LogFilter",
    "LogReader",
    "LogRecord",
    "LogSummary",
    "SlowItem",
    "follow",
    "parse_time",
    "read_records",
    "render_records",
    "render_summary",
    "resolve_job",
    "summarize",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
"""Log levels, least severe first."""

_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CHUNK = 1 << 16


class LogRecord(dict[str, Any]):
    """One record: the line's JSON object, plus the line exactly as it was read."""

    # A dict rather than a wrapper, so a record is the plain mapping a jq user
    # expects; `line` lets `--json` pass it on byte for byte.
    __slots__ = ("line",)

    def __init__(self, fields: Mapping[str, Any], line: str) -> None:
        super().__init__(fields)
        self.line = line
        """The line without its newline."""


class LogReader:
    """Turns log lines into records, counting the lines that are not JSON objects.

    One reader may serve several `read` and `follow` calls; `skipped` adds up
    over all of them. Blank lines are passed over without counting.
    """

    def __init__(self) -> None:
        self.skipped = 0
        """Lines that were not a JSON object: torn, garbage, or not UTF-8."""
        self.first_skipped: str | None = None
        """Where the first skipped line was, as `path:line`."""

    def read(self, paths: Sequence[Path]) -> Iterator[LogRecord]:
        """Stream the records of files, in the order given.

        Args:
            paths: log files, or directories whose `*.jsonl` files are read in
                name order (`run-YYYYMMDD-HHMMSS.jsonl` sorts by time).

        Raises:
            ConfigError: now, if a path does not exist or a directory holds no
                log; while streaming, if a file cannot be read.
        """
        return self._read(_log_files(paths))

    def _read(self, files: list[Path]) -> Iterator[LogRecord]:
        for path in files:
            handle = _open(path)
            if handle is None:
                raise ConfigError(f"{path}: no such log file or directory")
            with handle:
                for number, raw in enumerate(handle, 1):
                    record = self._parse(raw, path, number)
                    if record is not None:
                        yield record

    def follow(
        self,
        path: Path,
        *,
        poll_s: float = 0.2,
        stop: Callable[[], bool] | None = None,
        until_job_finished: str | None = None,
    ) -> Iterator[LogRecord]:
        """Stream a growing log from its start, like `tail -f`, until told to stop.

        Waits for the file to appear, and for the newline of a partial last
        line. pixelmill never rotates or truncates a log, so neither does this
        look out for it.

        Args:
            path: the log file; it need not exist yet.
            poll_s: how long to sleep when there is nothing new.
            stop: called between polls; once it returns true, what is in the
                file by then is read and the stream ends.
            until_job_finished: a job id, or a prefix of one; the stream ends
                after that job's `job.finished` record (checked before any
                filter, and `""` means whichever job finishes first).
        """
        handle: BinaryIO | None = None
        pending = b""
        number = 0
        try:
            while True:
                stopping = stop is not None and stop()
                if handle is None:
                    handle = _open(path)
                while handle is not None and (chunk := handle.read(_CHUNK)):
                    *lines, pending = (pending + chunk).split(b"\n")
                    for raw in lines:
                        number += 1
                        record = self._parse(raw, path, number)
                        if record is None:
                            continue
                        yield record
                        if _finishes(record, until_job_finished):
                            return
                if stopping:
                    break
                time.sleep(poll_s)
        finally:
            if handle is not None:
                handle.close()
        # Stopped with a last line that never got its newline: it is torn unless it parses.
        if pending and (record := self._parse(pending, path, number + 1)) is not None:
            yield record

    def _parse(self, raw: bytes, path: Path, number: int) -> LogRecord | None:
        line = raw.rstrip(b"\n").rstrip(b"\r")
        if not line.strip():
            return None
        try:
            text = line.decode("utf-8")
            fields = json.loads(text)
        except (ValueError, RecursionError):  # bad JSON or UTF-8; absurdly deep nesting
            fields = None
        if isinstance(fields, dict):
            return LogRecord(fields, text)
        self.skipped += 1
        self.first_skipped = self.first_skipped or f"{path}:{number}"
        return None


def read_records(paths: Sequence[Path]) -> Iterator[LogRecord]:
    """Stream the records of log files or directories; see `LogReader.read`.

    Use a `LogReader` to learn how many lines were skipped.
    """
    return LogReader().read(paths)


def follow(
    path: Path,
    *,
    poll_s: float = 0.2,
    stop: Callable[[], bool] | None = None,
    until_job_finished: str | None = None,
) -> Iterator[LogRecord]:
    """Stream a growing log, like `tail -f`; see `LogReader.follow`."""
    return LogReader().follow(
        path, poll_s=poll_s, stop=stop, until_job_finished=until_job_finished
    )


def _log_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.jsonl") if p.is_file())
            if not found:
                raise ConfigError(f"{path}: no *.jsonl log in this directory")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such log file or directory")
    return list(dict.fromkeys(files))


def _open(path: Path) -> BinaryIO | None:
    """Open a log to read; None if it does not exist (yet)."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the log: {exc.strerror}") from exc


def _finishes(record: Mapping[str, Any], job: str | None) -> bool:
    return (
        job is not None
        and record.get("event") == "job.finished"
        and str(record.get("job_id") or "").startswith(job)
    )


def parse_time(text: str, now: datetime, *, flag: str = "--since") -> datetime:
    """Read a `--since` / `--until` value: an ISO time, or a duration meaning "ago".

    Args:
        text: `2026-11-28T17:18:25Z`, `2026-11-28 17:18`, `2026-11-28`, or a
            duration `90s`, `10m`, `2h`, `1d`, `1w` (decimals allowed: `1.5h`).
            An ISO time without an offset is UTC, like the log's timestamps.
        now: what a duration counts back from; naive means UTC.
        flag: the flag named in the error.

    Returns:
        An aware UTC datetime.

    Raises:
        ConfigError: `--since: expected an ISO time or a duration like 10m, got "..."`.
    """
    stripped = text.strip()
    if match := _DURATION.fullmatch(stripped):
        return _utc(now) - timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    try:
        return _utc(datetime.fromisoformat(stripped))
    except ValueError as exc:
        message = f'{flag}: expected an ISO time or a duration like 10m, got "{text}"'
        raise ConfigError(message) from exc


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    """Which records to keep; every criterion given must hold, None means any.

    A record that lacks the field a criterion looks at does not match it:
    `job="ab"` drops `runtime.started`, `since=...` drops a record without a
    readable timestamp.

    Raises:
        ConfigError: for an unknown level, or `until` not after `since`.
    """

    job: str | None = None
    """A job id, or a prefix of one; see `resolve_job` to insist it is unique."""
    item: str | None = None
    """A substring of the item's path."""
    level: str | None = None
    """The least severe level kept, one of `LEVELS` in any case."""
    actor: str | None = None
    """The actor role, exactly (`job_manager`, `supervisor`, ...)."""
    event: str | None = None
    """An event name or glob (`item.*`); commas separate alternatives."""
    since: datetime | None = None
    """Keep records at or after this time; naive means UTC."""
    until: datetime | None = None
    """Keep records before this time; naive means UTC."""

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__, as dataclasses do.
        if self.level is not None:
            if self.level.lower() not in _RANK:
                levels = ", ".join(LEVELS)
                raise ConfigError(f'--level: expected one of {levels}, got "{self.level}"')
            object.__setattr__(self, "level", self.level.lower())
        for name in ("since", "until"):
            if (moment := getattr(self, name)) is not None:
                object.__setattr__(self, name, _utc(moment))
        if self.since is not None and self.until is not None and self.until <= self.since:
            message = f"--until: {self.until:%Y-%m-%d %H:%M:%S} UTC is not after --since"
            raise ConfigError(f"{message} {self.since:%Y-%m-%d %H:%M:%S} UTC")

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether the record meets every criterion."""
        if self.job is not None and not str(record.get("job_id") or "").startswith(self.job):
            return False
        if self.item is not None and self.item not in str(record.get("item") or ""):
            return False
        if self.level is not None and (
            _RANK.get(str(record.get("level")), _RANK["info"]) < _RANK[self.level]
        ):
            return False
        if self.actor is not None and record.get("actor") != self.actor:
            return False
        if self.event is not None:
            event = str(record.get("event") or "")
            if not any(fnmatchcase(event, glob.strip()) for glob in self.event.split(",")):
                return False
        if self.since is not None or self.until is not None:
            moment = timestamp_of(record)
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True


def resolve_job(prefix: str, records: Iterable[Mapping[str, Any]]) -> str:
    """The one job id in the records that starts with `prefix`.

    Raises:
        ConfigError: `--job: ...` if no job or several jobs start with it.
    """
    found = {
        job_id
        for record in records
        if isinstance(job_id := record.get("job_id"), str) and job_id.startswith(prefix)
    }
    if prefix in found:
        return prefix
    if len(found) == 1:
        return found.pop()
    if not found:
        raise ConfigError(f'--job: no job id in the logs starts with "{prefix}"')
    shown = ", ".join(sorted(found)[:5]) + (", ..." if len(found) > 5 else "")
    raise ConfigError(f'--job: "{prefix}" starts {len(found)} job ids ({shown}); give more of it')
