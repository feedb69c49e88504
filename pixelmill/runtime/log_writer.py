"""Structured logging for one Runtime: JSON lines to a file, a readable renderer on a terminal.

Nothing here touches structlog's global configuration or the root logger: a
Runtime builds its own logger, so a host's logging stays the host's, and two
Runtimes in one process can write to two files.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import IO, Any

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = ["LEVELS", "LogSink", "make_logger"]

LEVELS = ("debug", "info", "warning", "error", "critical")
"""The levels a log line may have, least severe first: what the log files hold."""
_LEVELS = {name: logging.getLevelName(name.upper()) for name in LEVELS}


class LogSink:
    """The end of the processor chain: writes each event to the file and the console.

    Safe from any thread: actors log from their own threads, and one lock
    keeps lines whole.
    """

    def __init__(
        self, path: Path | None, *, console: IO[str] | None, console_level: int
    ) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)
        self._console = console
        self._console_level = console_level
        self._renderer = structlog.dev.ConsoleRenderer(colors=bool(console and console.isatty()))
        self._lock = threading.Lock()

    def write(self, event: EventDict) -> None:
        line = json.dumps(event, default=str, ensure_ascii=True)
        with self._lock:
            if self._file is not None and not self._file.closed:
                self._file.write(line + "\n")
            if self._console is not None and _LEVELS.get(
                event.get("level", "info"), logging.INFO
            ) >= self._console_level:
                shown = {k: v for k, v in event.items() if k != "level"}
                shown["level"] = event.get("level", "info")
                text = self._renderer(None, "", shown)
                self._console.write(str(text) + "\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


def _to_sink(sink: LogSink) -> Any:
    def processor(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
        sink.write(event)
        raise structlog.DropEvent

    return processor


_METHOD_LEVELS = {**_LEVELS, "warn": logging.WARNING, "exception": logging.ERROR,
                  "fatal": logging.CRITICAL}


def _below(level: int) -> Any:
    """Drop events under `level`, by the name of the method that logged them."""

    def processor(_logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if _METHOD_LEVELS.get(method, logging.INFO) < level:
            raise structlog.DropEvent
        return event

    return processor


def make_logger(
    path: Path | None,
    *,
    level: str = "info",
    console: bool | IO[str] = False,
    console_level: str = "warning",
    tally: Processor | None = None,
) -> tuple[FilteringBoundLogger, LogSink]:
    """Build a Runtime's logger and the sink that owns its file.

    Args:
        path: the JSON-lines log file, appended to; None for no file.
        level: the lowest level logged at all.
        console: True for stderr, or a stream, to also render events readably.
        console_level: the lowest level shown on the console.
        tally: a processor that sees every event of `warning` and above
            (whatever `level` is) before the level filter, to count them.
    """
    stream: IO[str] | None = sys.stderr if console is True else (console or None)
    sink = LogSink(path, console=stream, console_level=_LEVELS[console_level])
    floor = _LEVELS[level]
    counting: list[Processor] = []
    if tally is not None:
        # The tally counts warnings even when the file keeps errors only.
        counting = [tally]
        if floor > logging.WARNING:
            counting.append(_below(floor))
            floor = logging.WARNING
    logger = structlog.wrap_logger(
        None,
        processors=[
            *counting,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _to_sink(sink),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(floor),
        cache_logger_on_first_use=True,
    )
    return logger, sink
