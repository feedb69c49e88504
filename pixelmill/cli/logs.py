"""`pixelmill logs`: read the JSON-lines logs back, filtered, summarised or followed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from pixelmill.errors import ConfigError
from pixelmill.logs import (
    LogFilter,
    LogReader,
    parse_time,
    render_records,
    render_summary,
    summarize,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["add_logs_parser", "logs_command"]


def add_logs_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser("logs", help="read run logs: filter, summarise, follow")
    logs.add_argument("files", nargs="+", type=Path, metavar="FILE",
                      help="log files, or directories of *.jsonl")
    logs.add_argument("--job", metavar="ID", help="one job (id or unique prefix)")
    logs.add_argument("--item", metavar="TEXT", help="items whose path contains TEXT")
    logs.add_argument("--level", metavar="LEVEL", help="this level and above")
    logs.add_argument("--actor", metavar="ROLE", help="job_manager, supervisor, ...")
    logs.add_argument("--event", metavar="NAME", help="an event or glob, e.g. 'item.*'")
    logs.add_argument("--reason", metavar="CLASS",
                      help="failures of this class, or below it: input.truncated, input.")
    logs.add_argument("--since", metavar="TIME", help="ISO time, or a duration ago: 10m, 2h")
    logs.add_argument("--until", metavar="TIME", help="ISO time, or a duration ago")
    logs.add_argument("--summary", action="store_true",
                      help="per-job timeline, events, errors by class, slowest items")
    logs.add_argument("--follow", action="store_true",
                      help="keep reading a growing log (one file), like tail -f")
    logs.add_argument("--json", action="store_true", help="records as JSON lines, for jq")


def logs_command(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    since = parse_time(args.since, now, flag="--since") if args.since else None
    until = parse_time(args.until, now, flag="--until") if args.until else None
    try:
        log_filter = LogFilter(
            job=args.job,
            item=args.item,
            level=args.level,
            actor=args.actor,
            event=args.event,
            reason=args.reason,
            since=since,
            until=until,
        )
    except ConfigError as exc:
        # LogFilter names its field first (`level: ...`); here it came from that flag.
        raise ConfigError(f"--{exc}") from exc
    reader = LogReader()
    if args.follow:
        if len(args.files) != 1:
            raise ConfigError("--follow: expected exactly one log file")
        records = reader.follow(args.files[0], until_job_finished=args.job)
    else:
        records = reader.read(args.files)
    kept = (record for record in records if log_filter.matches(record))
    console = Console()
    if args.summary:
        render_summary(summarize(kept), console, as_json=args.json)
    else:
        render_records(kept, console, as_json=args.json)
    if reader.skipped:
        print(f"pixelmill: skipped {reader.skipped} line(s) that were not JSON records",
              file=sys.stderr)
    return 0
