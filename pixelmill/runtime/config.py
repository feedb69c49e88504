"""The Runtime's configuration: a frozen value object, validated when made."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.actors.thresholds import LEVEL_KEYS
from pixelmill.errors import ConfigError
from pixelmill.imaging.formats import DEFAULT_FORMATS, check_formats
from pixelmill.imaging.pipeline import DEFAULT_MAX_PIXELS
from pixelmill.runtime.log_writer import LEVELS
from pixelmill.workers.faults import ACTOR_ROLES, FAULTS, STAGES, FaultPlan, FaultTarget
from pixelmill.workers.settings import BACKENDS, WorkerSettings

__all__ = ["RuntimeConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """How a Runtime runs. Every field is checked in `__post_init__`.

    A bad value raises `ConfigError` naming the key, the value and what was
    expected, e.g. `workers: expected a positive integer, got 0`.
    """

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Processors, each with its own worker process (two CPU slots are leased per
    worker: the item it runs and the next, queued in it)."""
    memory_mb: int | None = None
    """The memory budget for items in flight; None means half the available memory."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Inputs whose header claims more pixels are skipped as `input.too_large`."""
    formats: tuple[str, ...] = DEFAULT_FORMATS
    """The image formats read (`imaging.formats.DEFAULT_FORMATS`: all Pillow reads
    but EPS/PS, IPTC, IM, MPEG and stubs; HEIC too); a job's own `formats` wins.
    Inputs in another format are skipped as `input.unsupported`."""
    include_hidden: bool = False
    """A directory walk takes hidden files and walks hidden directories (names
    starting with a dot); a job's own `include_hidden` wins. Left out, each is
    listed in the job's `summary.json` as ignored (`hidden`)."""
    item_timeout_s: float = 120.0
    """An item running longer is stopped (its worker killed) as `worker.timeout`."""
    batch_items: int = 16
    """Small inputs (a quarter megapixel or less, decoded) run up to this many per
    call into a worker, which makes them several times faster; 1 runs each alone.
    A batch that hangs holds its other items until `item_timeout_s`; they then
    run again alone."""
    worker_memory_mb: int | None = 4096
    """Address space (MiB) each worker may map beyond what it maps idle (about
    0.9 GB: Python, numpy, Pillow); an item past it degrades, then is skipped."""
    min_free_mb: int = 100
    """Items and exports stop (`output.no_space`) before a disk has less free than this."""
    faults: FaultPlan | None = None
    """Inject failures, crashes and hangs into workers, and crashes into actors
    (tests and drills only). Its fields are checked too: each rate from 0 to 1,
    the three worker rates together at most 1, roles from `ACTOR_ROLES`, each
    target a file name (at most once) with a known fault and positive attempts."""
    monitor_enabled: bool = True
    """Feature switch: sample the machine at all. Results are the same either way."""
    monitor_interval_s: float = 1.0
    monitor_history: int = 600
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """Levels that move the Monitor's thresholds (`memory_percent`, `cpu_percent`,
    `disk_free_mb`); the rest keep their defaults (memory 90 %, CPU 95 %, 500 MiB
    free). Past `memory_percent` the ResourceManager halves its budget."""
    admission_control: bool = True
    """Feature switch: lease memory per item from the header. Off, only CPU slots
    bound the items in flight; results are the same either way."""
    recovery: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    max_restarts: int = 5
    """Restarts of crashed actors allowed within `restart_window_s` before giving up."""
    restart_window_s: float = 60.0
    backend: str = "local"
    """Where Processors run their items: `local` worker processes, or `ray` actors."""
    ray_address: str | None = None
    """The Ray cluster to join (`ray://host:10001` or `host:6379`); None starts Ray
    locally on loopback. Inputs and outputs must be on paths every node reaches."""
    journal: bool = True
    """Record jobs in the durable store, so they can be listed and resumed."""
    cache_enabled: bool = True
    """Reuse earlier work on the same bytes with the same pipeline (the result cache,
    in the job store: so it needs `journal`)."""
    cache_max_entries: int = 1_000_000
    """Entries the result cache keeps at most; the least recently used go first."""
    verify_cache: bool = False
    """Hash every input, even one whose size and modification time are unchanged."""
    state_dir: Path | None = None
    """Where the job store lives; None: `$PIXELMILL_STATE`, else the XDG data dir."""
    log_file: Path | None = None
    """JSON lines are appended here; None logs nowhere."""
    log_level: str = "info"
    log_console: bool = False
    """Also render warnings and errors readably on stderr."""
    max_jobs: int = 64
    """Jobs open at once; past it `submit` waits and `submit_nowait` raises."""
    ask_timeout_s: float = 30.0
    """How long the façade waits for an actor's answer before raising."""

    def __post_init__(self) -> None:
        _positive_int("workers", self.workers)
        if self.memory_mb is not None:
            _positive_int("memory_mb", self.memory_mb)
        _positive_int("max_pixels", self.max_pixels)
        object.__setattr__(self, "formats", check_formats(self.formats))
        _positive_int("monitor_history", self.monitor_history)
        _positive_int("max_restarts", self.max_restarts)
        _positive_int("max_jobs", self.max_jobs)
        _positive_int("batch_items", self.batch_items)
        _positive_int("cache_max_entries", self.cache_max_entries)
        for key in ("cache_enabled", "verify_cache", "journal", "include_hidden"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key}: expected true or false, got {getattr(self, key)!r}")
        if isinstance(self.min_free_mb, bool) or not isinstance(self.min_free_mb, int) or (
            self.min_free_mb < 0
        ):
            raise ConfigError(f"min_free_mb: expected an integer >= 0, got {self.min_free_mb!r}")
        if self.worker_memory_mb is not None:
            _positive_int("worker_memory_mb", self.worker_memory_mb)
        for key in ("monitor_interval_s", "restart_window_s", "ask_timeout_s", "item_timeout_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{key}: expected a positive number of seconds, got {value!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: expected local or ray, got {self.backend!r}")
        if self.log_level not in LEVELS:
            raise ConfigError(
                f"log_level: expected one of {', '.join(LEVELS)}, got {self.log_level!r}"
            )
        for key in ("log_file", "state_dir"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        if self.faults is not None:
            object.__setattr__(self, "faults", _checked_faults(self.faults))
        object.__setattr__(self, "thresholds", _checked_levels(self.thresholds))

    @property
    def worker_settings(self) -> WorkerSettings:
        """How the Processors confine their worker processes."""
        return WorkerSettings(
            item_timeout_s=self.item_timeout_s,
            memory_mb=self.worker_memory_mb,
            min_free_mb=self.min_free_mb,
            faults=self.faults,
            backend=self.backend,
        )

    def replace(self, **changes: object) -> RuntimeConfig:
        """A copy with some fields changed, validated again."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"{sorted(unknown)[0]}: not a Runtime setting")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _positive_int(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")


_WORKER_RATES = ("fail_rate", "crash_rate", "hang_rate")


def _checked_levels(levels: object) -> Mapping[str, float]:
    if not isinstance(levels, Mapping):
        raise ConfigError(f"thresholds: expected a table of levels, got {levels!r}")
    for key, value in levels.items():
        if key not in LEVEL_KEYS:
            raise ConfigError(
                f"thresholds.{key}: unknown threshold (known: {', '.join(LEVEL_KEYS)})"
            )
        high = math.inf if key == "disk_free_mb" else 100
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value <= high
        ):
            expected = "a number >= 0" if high == math.inf else "a number from 0 to 100"
            raise ConfigError(f"thresholds.{key}: expected {expected}, got {value!r}")
    return MappingProxyType(dict(levels))


def _checked_faults(faults: object) -> FaultPlan:
    """`faults` validated, with a list of roles made a tuple."""
    if not isinstance(faults, FaultPlan):
        raise ConfigError(f"faults: expected a FaultPlan or None, got {faults!r}")
    for key in (*_WORKER_RATES, "actor_crash_rate"):
        value = getattr(faults, key)
        # `not 0 <= value <= 1` also refuses NaN.
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(f"faults.{key}: expected a number from 0 to 1, got {value!r}")
    # A worker's attempt draws one of the three: past 1 the last would be cut short.
    # fsum, so that 0.34 + 0.56 + 0.1 is 1 and not 1.0000000000000002.
    total = math.fsum(getattr(faults, key) for key in _WORKER_RATES)
    if total > 1:
        raise ConfigError(
            f"faults: fail_rate + crash_rate + hang_rate must be at most 1, got {total!r}"
        )
    actors: object = faults.actors
    if not isinstance(actors, list | tuple) or not all(isinstance(n, str) for n in actors):
        raise ConfigError(f"faults.actors: expected a list of role names, got {actors!r}")
    for name in actors:
        if name not in ACTOR_ROLES:
            raise ConfigError(
                f"faults.actors: unknown role {name!r} (known: {', '.join(ACTOR_ROLES)})"
            )
    if isinstance(faults.seed, bool) or not isinstance(faults.seed, int):
        raise ConfigError(f"faults.seed: expected an integer, got {faults.seed!r}")
    return dataclasses.replace(
        faults, actors=tuple(actors), targets=_checked_targets(faults.targets)
    )


def _checked_targets(targets: object) -> tuple[FaultTarget, ...]:
    """`FaultPlan.targets` validated, with lists made tuples."""
    if not isinstance(targets, list | tuple) or not all(
        isinstance(target, FaultTarget) for target in targets
    ):
        raise ConfigError(f"faults.targets: expected a list of FaultTarget, got {targets!r}")
    checked: dict[str, FaultTarget] = {}
    for target in targets:
        name: object = target.name
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise ConfigError(f"faults.targets: expected a file name, got {name!r}")
        if name in checked:
            raise ConfigError(f"faults.targets: {name} is named twice")
        if target.fault not in FAULTS:
            raise ConfigError(
                f"faults.targets: unknown fault {target.fault!r} for {name} "
                f"(known: {', '.join(FAULTS)})"
            )
        attempts: object = target.attempts
        if not isinstance(attempts, list | tuple) or not all(
            not isinstance(n, bool) and isinstance(n, int) and n >= 1 for n in attempts
        ):
            raise ConfigError(
                f"faults.targets: attempts of {name}: expected positive integers, got {attempts!r}"
            )
        if target.stage not in STAGES:
            raise ConfigError(
                f"faults.targets: unknown stage {target.stage!r} for {name} "
                f"(known: {', '.join(STAGES)})"
            )
        checked[name] = dataclasses.replace(target, attempts=tuple(attempts))
    return tuple(checked.values())
