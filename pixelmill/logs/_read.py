"""Reading logs back: records streamed from files, filtered, followed, summarised."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pixelmill.errors import ConfigError
from pixelmill.logs._filter import LEVELS, LogFilter, parse_time, resolve_job
from pixelmill.logs._render import render_records
from pixelmill.logs._summary import (
    ErrorGroup,
    JobTimeline,
    LogSummary,
    SlowItem,
    render_summary,
    summarize,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping


__all__ = [
    "LEVELS",
    "ErrorGroup",
    "JobTimeline",
    "LogFilter",
    "LogPaths",
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

LogPaths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
"""One log file or directory, or several: `"run.jsonl"`, `Path("logs")`, `[a, b]`."""

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

    def read(self, paths: LogPaths) -> Iterator[LogRecord]:
        """Stream the records of files, in the order given.

        Args:
            paths: a log file, or a directory whose `*.jsonl` files are read
                in name order (`run-YYYYMMDD-HHMMSS.jsonl` sorts by time), or
                several of them; each a `str` or a `Path`.

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
        path: str | os.PathLike[str],
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
        path = Path(path)
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


def read_records(paths: LogPaths) -> Iterator[LogRecord]:
    """Stream the records of log files or directories; see `LogReader.read`.

    Use a `LogReader` to learn how many lines were skipped.
    """
    return LogReader().read(paths)


def follow(
    path: str | os.PathLike[str],
    *,
    poll_s: float = 0.2,
    stop: Callable[[], bool] | None = None,
    until_job_finished: str | None = None,
) -> Iterator[LogRecord]:
    """Stream a growing log, like `tail -f`; see `LogReader.follow`."""
    return LogReader().follow(
        path, poll_s=poll_s, stop=stop, until_job_finished=until_job_finished
    )


def _log_files(paths: LogPaths) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
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
