"""The `pixelmill` command line: `run`, `demo`.

Exit codes: 0 every item done; 1 some items failed or were skipped; 2 a usage
or configuration error (one line naming the flag); 3 the job was aborted;
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.errors import ConfigError, PixelmillError
from pixelmill.imaging import ops
from pixelmill.messages import JobStatus
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.progress import Interrupts, follow_job, print_result
from pixelmill.runtime.runtime import Runtime
from pixelmill.runtime.spec import JobSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pixelmill.runtime.handle import JobResult

__all__ = ["main"]

DEFAULT_ANALYSES = "rgb_histogram,channel_stats,luminance,sharpness,metadata"
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelmill", description="Batch image jobs: transform, analyse, export."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a job over files, directories or globs")
    run.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories, globs")
    run.add_argument("--out", required=True, type=Path, metavar="DIR",
                     help="where outputs and export files go")
    _add_run_options(run)

    demo = commands.add_parser("demo", help="generate sample images and run a job on them")
    demo.add_argument("--out", type=Path, default=Path("pixelmill-demo"), metavar="DIR",
                      help="where samples, outputs and export go (default: ./pixelmill-demo)")
    demo.add_argument("--count", type=_positive_int, default=24, metavar="N",
                      help="sample images to generate (default: 24, plus 3 broken files)")
    _add_run_options(demo)
    return parser


def _add_run_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workers", type=_positive_int, metavar="N",
                         help="worker processes (default: one per core)")
    command.add_argument("--thumbnail", type=_positive_int, metavar="PX",
                         help="shrink each image to fit PX x PX")
    command.add_argument("--analyses", default=DEFAULT_ANALYSES, metavar="A,B,C",
                         help=f"analyses to run (default: {DEFAULT_ANALYSES}); '' for none")
    command.add_argument("--format", choices=("jpeg", "png", "webp"), default="jpeg",
                         help="output format (default: jpeg)")
    command.add_argument("--quality", type=_quality, default=85, metavar="Q",
                         help="JPEG/WebP quality, 1-100 (default: 85)")
    command.add_argument("--priority", choices=("urgent", "high", "normal", "low"),
                         default="normal")
    command.add_argument("--name", help="a name for the job")
    command.add_argument("--log", type=Path, metavar="FILE",
                         help="JSON-lines log file (default: DIR/logs/run-TIME.jsonl)")
    command.add_argument("--quiet", action="store_true", help="print only errors")


def _spec(args: argparse.Namespace, inputs: Sequence[str], out: Path) -> JobSpec:
    pipeline = []
    if args.thumbnail:
        pipeline.append(ops.thumbnail(args.thumbnail))
    pipeline.append(ops.save(format=args.format, quality=args.quality))
    analyses = [name.strip() for name in args.analyses.split(",") if name.strip()]
    return JobSpec(
        inputs=list(inputs),
        export_dir=out,
        pipeline=pipeline,
        analyses=analyses,
        priority=args.priority,
        name=args.name,
    )


def _run(args: argparse.Namespace, inputs: Sequence[str], out: Path) -> int:
    out = out.absolute()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot use {out} as the output directory: {exc.strerror}") from exc
    log_file = args.log or out / "logs" / time.strftime("run-%Y%m%d-%H%M%S.jsonl")
    config = RuntimeConfig(log_file=log_file, log_console=not args.quiet)
    if args.workers:
        config = config.replace(workers=args.workers)
    spec = _spec(args, inputs, out)
    with Interrupts() as interrupts:
        runtime = Runtime(config)
        try:
            result = follow_job(runtime.submit(spec), quiet=args.quiet, interrupts=interrupts)
        finally:
            runtime.shutdown()
    if not args.quiet:
        print_result(result, out=out, log_file=log_file)
    return _exit_code(result)


def _exit_code(result: JobResult) -> int:
    if result.status is JobStatus.ABORTED:
        return EXIT_ABORTED
    if result.status is JobStatus.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.counts.done == result.counts.total else EXIT_PARTIAL


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pixelmill` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from pixelmill.runtime.demo import prepare_demo

            inputs, out = prepare_demo(args.out, count=args.count)
            code = _run(args, inputs, out)
            # The samples include broken files on purpose: a demo that shows
            # them skipped has succeeded.
            return EXIT_OK if code == EXIT_PARTIAL else code
        return _run(args, args.inputs, args.out)
    except ConfigError as exc:
        parser.exit(EXIT_USAGE, f"pixelmill: error: {exc}\n")
    except PixelmillError as exc:
        print(f"pixelmill: error: {exc}", file=sys.stderr)
        return EXIT_ABORTED
    except KeyboardInterrupt:
        print("pixelmill: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
