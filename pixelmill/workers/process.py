"""What runs inside a worker process: the imaging pipeline, one item at a time.

This module is imported by the fork server before any worker is forked (and
by each Ray worker), so it imports only what a worker needs (Pillow, numpy,
the imaging package): no actor, no runtime, no structlog.
"""

from __future__ import annotations

import importlib
import os
import resource
import runpy
import select
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from PIL import Image

from pixelmill.errors import InternalError, PixelmillError, TransientIOError
from pixelmill.imaging import pipeline as imaging_pipeline
from pixelmill.imaging import tuning
from pixelmill.imaging.safe_open import ProbedFile, probe_file
from pixelmill.imaging.save import check_free_space

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline
    from pixelmill.workers.faults import FaultPlan, Stage

__all__ = [
    "Outcome",
    "ProbeTask",
    "ProbeTaskItem",
    "Task",
    "TaskItem",
    "WorkerFailure",
    "init_worker",
    "load_plugins",
    "probe_item",
    "run_item",
    "run_task",
    "warm_up",
]


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """An item's failure as it crosses back from the worker: a class and a message."""

    reason: str
    message: str


Outcome: TypeAlias = "ItemResult | ProbedFile | WorkerFailure"
"""What a worker gives back for one item: its result (a `Task`), its header (a
`ProbeTask`), or its failure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskItem:
    """One item of a `Task`: only its path and where to write cross, never pixels."""

    path: Path
    target: OutputTarget
    attempt: int = 1
    """The attempt the recovery policy counts (a fault drill draws on it too)."""
    reduce: int = 1
    """Decode at 1/`reduce` scale."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """One call into a worker: its items run in turn through one pipeline.

    An item alone is a task of one; a batch of small items shares one call.
    """

    items: tuple[TaskItem, ...]
    pipeline: Pipeline
    plugins: tuple[str, ...] = ()
    """Modules (or `file:` scripts) that register the host's own ops; loaded first."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTaskItem:
    """One file of a `ProbeTask`."""

    path: Path
    attempt: int = 1
    content_hash: bool = False
    """Also hash its bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTask:
    """One call into a worker that reads files' headers (nothing is decoded), in turn."""

    items: tuple[ProbeTaskItem, ...]


def init_worker(memory_mb: int | None, host_pid: int | None = None) -> None:
    """Prepare a fresh worker process: Ctrl-C belongs to the host, bombs are errors,
    and the worker ends when its host does (`host_pid`), however the host died."""
    if host_pid is not None:
        _end_with(host_pid)
    # The Runtime turns Ctrl-C into a graceful drain; a worker killed by the
    # terminal's SIGINT mid-item would only turn that drain into crashes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pixel limit is the pipeline's `max_pixels`, checked on the header
    # before decoding; Pillow's own fixed limit would cut below it.
    Image.MAX_IMAGE_PIXELS = None
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    # Keep freed image memory in the heap for the next item (10-12 % less CPU
    # per photo than faulting it in again; see imaging/tuning.py).
    tuning.tune_process()
    if memory_mb is not None:
        # Beyond what the idle worker already maps (Python, numpy and Pillow
        # take about 0.9 GB of address space before any image), or a small cap
        # would leave no room for the first allocation.
        limit = _address_space() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _end_with(host_pid: int) -> None:
    """End this process as soon as `host_pid` exits, from a daemon thread.

    A worker's parent is the fork server, not the host, and it holds both ends
    of its own work queue: when the host is killed outright (SIGKILL, the OOM
    killer), nothing else would ever make it exit, nor the fork server, which
    its workers keep alive.
    """
    try:
        pidfd = os.pidfd_open(host_pid)
    except (AttributeError, OSError):
        pidfd = None  # an old kernel, or the host is gone already

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the process exited
        else:
            while _alive(host_pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="pixelmill-host-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _address_space() -> int:
    """Bytes of address space this process maps now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def warm_up() -> int:
    """A no-op call that starts the worker ahead of the first item; returns its pid."""
    return os.getpid()


def _injected(fault: str | None) -> None:
    """Crash or hang here if a drill says so (a `fail` is the caller's to raise)."""
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "hang":
        time.sleep(10**6)


def _draw(faults: FaultPlan | None, path: Path, attempt: int, stage: Stage) -> str | None:
    return faults.draw(path, attempt, stage) if faults else None


def probe_item(
    path: Path, *, attempt: int = 1, content_hash: bool = False, faults: FaultPlan | None = None
) -> ProbedFile | WorkerFailure:
    """Read the header of one file (and hash its bytes when asked); every failure
    comes back classified, never raised."""
    fault = _draw(faults, path, attempt, "probe")
    _injected(fault)
    try:
        if fault == "fail":
            raise TransientIOError(f"{path}: injected transient failure (attempt {attempt})")
        return probe_file(path, hash_bytes=content_hash)
    except Exception as exc:  # noqa: BLE001 - the worker boundary: classify, never lose
        return _classified(path, exc)


def _classified(path: Path, exc: Exception) -> WorkerFailure:
    if isinstance(exc, PixelmillError):
        return WorkerFailure(reason=exc.reason, message=str(exc))
    if isinstance(exc, MemoryError):
        return WorkerFailure(
            reason="resource.memory", message=f"{path}: ran out of the worker's memory"
        )
    error = InternalError(f"{path}: {type(exc).__name__}: {exc}")
    return WorkerFailure(reason=error.reason, message=str(error))


def run_item(
    path: Path,
    pipeline: Pipeline,
    target: OutputTarget,
    *,
    reduce: int = 1,
    attempt: int = 1,
    faults: FaultPlan | None = None,
    min_free_mb: int = 0,
    plugins: tuple[str, ...] = (),
) -> Outcome:
    """Run the pipeline on one file; every failure comes back classified, never raised."""
    fault = _draw(faults, path, attempt, "work")
    _injected(fault)
    try:
        load_plugins(plugins)
        if fault == "fail":
            raise TransientIOError(f"{path}: injected transient failure (attempt {attempt})")
        if min_free_mb and target.output_dir is not None:
            check_free_space(target.output_dir, min_free_mb)
        return imaging_pipeline.run(path, pipeline, target, reduce=reduce)
    except Exception as exc:  # noqa: BLE001 - the worker boundary: classify, never lose
        return _classified(path, exc)


def run_task(
    task: Task | ProbeTask, *, faults: FaultPlan | None = None, min_free_mb: int = 0
) -> list[Outcome]:
    """`run_item` (or, for a `ProbeTask`, `probe_item`) on each item of `task` in turn:
    one outcome per item, in its order."""
    if isinstance(task, ProbeTask):
        return [
            probe_item(item.path, attempt=item.attempt, content_hash=item.content_hash,
                       faults=faults)
            for item in task.items
        ]
    return [
        run_item(item.path, task.pipeline, item.target, reduce=item.reduce,
                 attempt=item.attempt, faults=faults, min_free_mb=min_free_mb,
                 plugins=task.plugins)
        for item in task.items
    ]


_loaded: set[str] = set()


def load_plugins(plugins: Sequence[str]) -> None:
    """Import the modules that register a host's ops, once per process.

    Workers do it before their first item; a host does it before it resumes
    a job that uses them.
    """
    for plugin in plugins:
        if plugin in _loaded:
            continue
        if plugin.startswith("file:"):
            script = plugin.removeprefix("file:")
            # A script: multiprocessing already re-ran its top level in a
            # worker as `__mp_main__`, and a host running it is `__main__`
            # (either way its registrations are here); Ray does not, so run it
            # the same way then. Its main block never runs.
            ran = (sys.modules.get(name) for name in ("__mp_main__", "__main__"))
            if all(getattr(main, "__file__", None) != script for main in ran):
                runpy.run_path(script, run_name="__mp_main__")
        else:
            importlib.import_module(plugin)
        _loaded.add(plugin)
