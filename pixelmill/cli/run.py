"""`pixelmill run`, `demo` and `resume`: settings, the job, its progress, its exit code."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.cli.progress import Interrupts, follow_job, print_result
from pixelmill.errors import ConfigError
from pixelmill.imaging import ops
from pixelmill.messages import JobStatus
from pixelmill.runtime.config_file import find_config, load_settings
from pixelmill.runtime.job_file import is_job_file, load_job_file
from pixelmill.runtime.runtime import Runtime
from pixelmill.runtime.spec import JobSpec
from pixelmill.store import JobStore, state_dir

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from pixelmill.runtime.config import RuntimeConfig
    from pixelmill.runtime.config_file import Settings
    from pixelmill.runtime.handle import JobHandle, JobResult

__all__ = ["DEFAULT_ANALYSES", "EXIT_ABORTED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL",
           "EXIT_USAGE", "exit_code", "resume_command", "run_command"]

DEFAULT_ANALYSES = ("rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(find_config(args.config, Path.cwd()))


def _out_dir(args: argparse.Namespace, settings: Settings, fallback: Path | None = None) -> Path:
    out = args.out or settings.export.dir or fallback
    if out is None:
        raise ConfigError("--out: required unless the config file sets [export] dir")
    out = Path(out).absolute()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out: cannot use {out} as the output directory: {exc.strerror}"
        ) from exc
    return out


def _config(args: argparse.Namespace, settings: Settings, out: Path) -> RuntimeConfig:
    config = settings.runtime
    log_file = (
        args.log or config.log_file or out / "logs" / time.strftime("run-%Y%m%d-%H%M%S.jsonl")
    )
    changes: dict[str, object] = {
        "log_file": log_file,
        "log_console": not (args.quiet or args.json),
    }
    if args.workers:
        changes["workers"] = args.workers
    if args.backend:
        changes["backend"] = args.backend
    if args.ray_address:
        changes["backend"], changes["ray_address"] = "ray", args.ray_address
    if args.state:
        changes["state_dir"] = args.state
    if args.verify_cache:
        changes["verify_cache"] = True
    return config.replace(**changes)


def _spec_from_flags(
    args: argparse.Namespace, settings: Settings, inputs: Sequence[str], out: Path
) -> JobSpec:
    defaults = settings.export
    thumbnail = args.thumbnail or defaults.thumbnail
    pipeline = [ops.thumbnail(thumbnail)] if thumbnail else []
    pipeline.append(ops.save(format=args.format or defaults.format,
                             quality=args.quality or defaults.quality))
    if args.analyses is not None:
        analyses = tuple(name.strip() for name in args.analyses.split(",") if name.strip())
    else:
        analyses = defaults.analyses if defaults.analyses is not None else DEFAULT_ANALYSES
    return JobSpec(inputs=list(inputs), export_dir=out, pipeline=pipeline,
                   analyses=list(analyses), priority=args.priority, name=args.name)


def _import_plugins(args: argparse.Namespace) -> None:
    for module in args.plugin:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"--plugin: cannot import {module!r}: {exc}") from exc


def run_command(args: argparse.Namespace, inputs: Sequence[str] | None = None) -> int:
    """`pixelmill run` (and `demo`, which passes its generated inputs)."""
    _import_plugins(args)
    settings = _settings(args)
    job_file = Path(args.inputs[0]) if inputs is None and len(args.inputs) == 1 else None
    if job_file is not None and is_job_file(job_file):
        spec = load_job_file(job_file, default_export_dir=args.out or settings.export.dir,
                             max_pixels=settings.runtime.max_pixels)
        out = _out_dir(args, settings, fallback=Path(spec.export_dir))
        spec = dataclasses.replace(spec, export_dir=out, charts=args.charts or spec.charts,
                                   cache=spec.cache and not args.no_cache,
                                   include_hidden=args.include_hidden or spec.include_hidden)
    else:
        out = _out_dir(args, settings)
        spec = _spec_from_flags(args, settings, inputs or args.inputs, out)
        spec = dataclasses.replace(spec, charts=args.charts, cache=not args.no_cache,
                                   include_hidden=args.include_hidden or None)
    config = _config(args, settings, out)
    return _follow(args, config, out, lambda runtime: runtime.submit(spec))


def resume_command(args: argparse.Namespace) -> int:
    """`pixelmill resume JOB_ID`: finish an interrupted job."""
    _import_plugins(args)
    settings = _settings(args)
    with JobStore.in_dir(state_dir(args.state or settings.runtime.state_dir),
                         readonly=True) as store:
        job = store.job(args.job_id)
    if job is None:
        raise ConfigError(f"JOB_ID: no job {args.job_id!r} in the job store")
    out = Path(job.spec["export_dir"])
    args.out = out
    config = _config(args, settings, out)
    return _follow(args, config, out, lambda runtime: runtime.resume(job.job_id))


def _follow(
    args: argparse.Namespace,
    config: RuntimeConfig,
    out: Path,
    start: Callable[[Runtime], JobHandle],
) -> int:
    with Interrupts() as interrupts:
        runtime = Runtime(config)
        try:
            handle = start(runtime)
            interrupts.job_id = handle.job_id

            def memory_mb() -> float | None:
                latest = runtime.metrics().latest
                return latest.rss_mb if latest else None

            result = follow_job(handle, quiet=args.quiet, as_json=args.json,
                                interrupts=interrupts, memory_mb=memory_mb)
        finally:
            runtime.shutdown()
    if not (args.quiet or args.json):
        assert config.log_file is not None
        print_result(result, out=out, log_file=config.log_file)
    if result.status is not JobStatus.COMPLETED and not args.json:
        print(f"pixelmill: resume with: pixelmill resume {result.job_id}", file=sys.stderr)
    return exit_code(result)


def exit_code(result: JobResult) -> int:
    """0 all done, 1 some not done, 3 aborted, 130 cancelled (interrupted)."""
    if result.status is JobStatus.ABORTED:
        return EXIT_ABORTED
    if result.status is JobStatus.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.counts.succeeded == result.counts.total else EXIT_PARTIAL
