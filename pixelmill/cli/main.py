"""The `pixelmill` command line: run, demo, resume, jobs, cache, config, logs.

Exit codes: 0 every item done; 1 some items failed or were skipped; 2 a usage
or configuration error (one line naming the flag or key); 3 the job was
aborted; 130 interrupted or cancelled.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.cli.cache import cache_command
from pixelmill.cli.jobs import config_command, jobs_command
from pixelmill.cli.logs import add_logs_parser, logs_command
from pixelmill.cli.run import (
    DEFAULT_ANALYSES,
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    resume_command,
    run_command,
)
from pixelmill.errors import ConfigError, PixelmillError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        msg = f"expected an integer from 1 to 100, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a number of days >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, metavar="FILE",
                         help="configuration file (default: ./pixelmill.toml if present)")
    command.add_argument("--state", type=Path, metavar="DIR",
                         help="job store dir (default: $PIXELMILL_STATE, else the XDG data dir)")


def _output_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--log", type=Path, metavar="FILE",
                         help="JSON-lines log file (default: DIR/logs/run-TIME.jsonl)")
    command.add_argument("--quiet", action="store_true", help="print only errors")
    command.add_argument("--json", action="store_true",
                         help="print one JSON event per line, for scripts")
    command.add_argument("--workers", type=_positive_int, metavar="N",
                         help="worker processes (default: one per core, or per cluster CPU)")
    command.add_argument("--backend", choices=("local", "ray"),
                         help="run Processors here (local) or as Ray actors (ray)")
    command.add_argument("--ray-address", metavar="ADDR",
                         help="the Ray cluster to join (default: start Ray on loopback)")
    command.add_argument("--verify-cache", action="store_true",
                         help="hash every input, even those unchanged since last seen")


def _run_options(command: argparse.ArgumentParser) -> None:
    _common(command)
    _output_options(command)
    command.add_argument("--thumbnail", type=_positive_int, metavar="PX",
                         help="shrink each image to fit PX x PX")
    command.add_argument("--analyses", metavar="A,B,C",
                         help=f"analyses to run (default: {','.join(DEFAULT_ANALYSES)}); "
                              "'' for none")
    command.add_argument("--format", choices=("jpeg", "png", "webp"),
                         help="output format (default: jpeg)")
    command.add_argument("--quality", type=_quality, metavar="Q",
                         help="JPEG/WebP quality, 1-100 (default: 85)")
    command.add_argument("--priority", choices=("urgent", "high", "normal", "low"),
                         default="normal")
    command.add_argument("--name", help="a name for the job")
    command.add_argument("--charts", action="store_true",
                         help="also write one RGB histogram PNG per image under DIR/charts")
    _plugin_option(command)
    command.add_argument("--no-cache", action="store_true",
                         help="work every item, even those the result cache has")
    command.add_argument("--include-hidden", action="store_true",
                         help="take hidden files and walk hidden directories of input dirs")


def _plugin_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                         help="import MODULE first: it registers your own ops and analyses")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelmill", description="Batch image jobs: transform, analyse, export."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a job over files, directories, globs or a job file")
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="files, directories, globs, or one job.toml")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="where outputs and export files go ([export] dir in the config)")
    _run_options(run)

    demo = commands.add_parser("demo", help="generate sample images and run a job on them")
    demo.add_argument("--out", type=Path, default=Path("pixelmill-demo"), metavar="DIR",
                      help="where samples, outputs and export go (default: ./pixelmill-demo)")
    demo.add_argument("--count", type=_positive_int, default=24, metavar="N",
                      help="sample images to generate (default: 24, plus 3 broken files)")
    _run_options(demo)

    resume = commands.add_parser("resume", help="finish an interrupted job")
    resume.add_argument("job_id", metavar="JOB_ID", help="the job's id, or a unique prefix")
    _common(resume)
    _output_options(resume)
    _plugin_option(resume)

    jobs = commands.add_parser("jobs", help="list past jobs; show one; prune old ones")
    jobs_actions = jobs.add_subparsers(dest="action", metavar="ACTION")
    show = jobs_actions.add_parser("show", help="one job's items by status, with reasons")
    show.add_argument("job_id", metavar="JOB_ID")
    show.add_argument("--json", action="store_true")
    _common(show)
    prune = jobs_actions.add_parser("prune", help="forget finished jobs older than DAYS")
    prune.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    _common(prune)
    jobs.add_argument("--json", action="store_true", help="one JSON object per job")
    jobs.add_argument("--limit", type=_positive_int, metavar="N")
    _common(jobs)

    cache = commands.add_parser("cache", help="the result cache: inspect it or clear it")
    cache_actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    stats = cache_actions.add_parser("stats", help="entries, size, hit rate of the last jobs")
    stats.add_argument("--json", action="store_true", help="one JSON object")
    stats.add_argument("--jobs", type=_positive_int, default=10, metavar="N",
                       help="the hit rate over the last N finished jobs (default: 10)")
    _common(stats)
    clear = cache_actions.add_parser("clear", help="forget every cached result")
    _common(clear)

    config = commands.add_parser("config", help="show or migrate configuration")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = config_actions.add_parser("migrate", help="print FILE in the current format")
    migrate.add_argument("file", type=Path, metavar="FILE")
    show_config = config_actions.add_parser("show", help="print the effective configuration")
    show_config.add_argument("--config", type=Path, metavar="FILE")

    add_logs_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pixelmill` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        match args.command:
            case "demo":
                from pixelmill.cli.demo import prepare_demo

                inputs, out = prepare_demo(args.out, count=args.count)
                args.out = out
                code = run_command(args, inputs)
                # The samples include broken files on purpose: a demo that
                # shows them skipped has succeeded.
                return EXIT_OK if code == EXIT_PARTIAL else code
            case "run":
                return run_command(args)
            case "resume":
                return resume_command(args)
            case "jobs":
                return jobs_command(args)
            case "cache":
                return cache_command(args)
            case "config":
                return config_command(args)
            case _:
                return logs_command(args)
    except ConfigError as exc:
        parser.exit(EXIT_USAGE, f"pixelmill: error: {exc}\n")
    except PixelmillError as exc:
        print(f"pixelmill: error: {exc}", file=sys.stderr)
        return EXIT_ABORTED
    except KeyboardInterrupt:
        print("pixelmill: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pixelmill logs ... | head`): that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
