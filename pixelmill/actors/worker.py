"""What runs inside a worker process: the imaging pipeline, one item at a time.

This module is imported by the fork server before any worker is forked, so
it imports only what a worker needs (Pillow, numpy, the imaging package).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import resource
import runpy
import shutil
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from pixelmill.errors import InternalError, NoSpaceError, PixelmillError, TransientIOError
from pixelmill.imaging import pipeline as imaging_pipeline
from pixelmill.imaging import tuning

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline

__all__ = [
    "ACTOR_ROLES",
    "FaultPlan",
    "WorkerFailure",
    "WorkerSettings",
    "init_worker",
    "load_plugins",
    "run_item",
    "run_items",
    "warm_up",
]


ACTOR_ROLES = (
    "job_manager", "exporter", "resource_manager", "processor_pool", "monitor", "supervisor",
)
"""The actors a `FaultPlan` may crash: every role the Supervisor (or, for itself,
the Runtime) replaces."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """Faults injected into workers, for tests and drills; off unless a Runtime asks.

    Each attempt of each item draws once, deterministically from `seed`, the
    path and the attempt number, so a retry draws afresh and a run repeats.
    """

    fail_rate: float = 0.0
    """Share of attempts that fail with a transient I/O error (`io.transient`)."""
    crash_rate: float = 0.0
    """Share of attempts whose worker dies of SIGSEGV mid-item."""
    hang_rate: float = 0.0
    """Share of attempts whose worker hangs until the item's time limit."""
    actor_crash_rate: float = 0.0
    """Chance that an actor raises while handling a message (before it acts on
    it): the actor dies, its inbox is lost, and the Supervisor replaces it."""
    actors: tuple[str, ...] = ACTOR_ROLES
    """The roles `actor_crash_rate` applies to (names from `ACTOR_ROLES`)."""
    seed: int = 0

    def draw(self, path: Path, attempt: int) -> str | None:
        """`"fail"`, `"crash"`, `"hang"` or None for this attempt."""
        digest = hashlib.blake2b(f"{self.seed}:{path}:{attempt}".encode(), digest_size=8)
        roll = int.from_bytes(digest.digest(), "big") / 2**64
        for fault, rate in (("fail", self.fail_rate), ("crash", self.crash_rate),
                            ("hang", self.hang_rate)):
            if roll < rate:
                return fault
            roll -= rate
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """How each worker process is confined."""

    item_timeout_s: float = 120.0
    """An item still running after this is `worker.timeout`; its worker is killed."""
    memory_mb: int | None = 4096
    """Address space (MiB) the worker may map beyond its idle baseline (an
    RLIMIT_AS); past it allocations fail with MemoryError, which degrades the
    item instead of the machine."""
    min_free_mb: int = 100
    """An item is not written when its output dir's disk has less free than this."""
    faults: FaultPlan | None = None
    backend: str = "local"
    """`local`: worker processes on this machine; `ray`: Ray actors on a cluster."""


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """An item's failure as it crosses back from the worker: a class and a message."""

    reason: str
    message: str


def init_worker(memory_mb: int | None) -> None:
    """Prepare a fresh worker process: Ctrl-C belongs to the host, bombs are errors."""
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


def _address_space() -> int:
    """Bytes of address space this process maps now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def warm_up() -> int:
    """A no-op task that starts the worker ahead of the first item; returns its pid."""
    return os.getpid()


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
) -> ItemResult | WorkerFailure:
    """Run the pipeline on one file; every failure comes back classified, never raised."""
    fault = faults.draw(path, attempt) if faults else None
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "hang":
        time.sleep(10**6)
    try:
        load_plugins(plugins)
        if fault == "fail":
            raise TransientIOError(f"{path}: injected transient failure (attempt {attempt})")
        if min_free_mb and target.output_dir is not None:
            _check_free_space(target.output_dir, min_free_mb)
        return imaging_pipeline.run(path, pipeline, target, reduce=reduce)
    except PixelmillError as exc:
        return WorkerFailure(reason=exc.reason, message=str(exc))
    except MemoryError:
        return WorkerFailure(
            reason="resource.memory", message=f"{path}: ran out of the worker's memory"
        )
    except Exception as exc:  # noqa: BLE001 - the worker boundary: classify, never lose
        error = InternalError(f"{path}: {type(exc).__name__}: {exc}")
        return WorkerFailure(reason=error.reason, message=str(error))


def run_items(
    items: Sequence[tuple[Path, OutputTarget, int]],
    pipeline: Pipeline,
    **options: Any,
) -> list[ItemResult | WorkerFailure]:
    """`run_item` on each (path, target, attempt) in turn: one call for a batch of small items."""
    return [
        run_item(path, pipeline, target, attempt=attempt, **options)
        for path, target, attempt in items
    ]


def _check_free_space(directory: Path, min_free_mb: int) -> None:
    try:
        free_mb = shutil.disk_usage(directory).free / 2**20
    except OSError:
        return  # a missing dir is the save step's to report, precisely
    if free_mb < min_free_mb:
        raise NoSpaceError(
            f"{directory}: only {free_mb:.0f} MiB free, below the {min_free_mb} MiB reserve"
        )


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
