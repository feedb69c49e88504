"""Configuration files: versioned TOML, migrated to the current version, then validated.

Version 1 (also a file without `config_version`) is flat; version 2 has sections.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias, cast

import tomli_w

from pixelmill.actors.recovery import RecoveryPolicy, Rule, Strategy
from pixelmill.errors import ConfigError
from pixelmill.imaging.formats import check_formats
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.log_writer import LEVELS
from pixelmill.workers.faults import ACTOR_ROLES, FAULTS, STAGES, Fault, FaultPlan, FaultTarget

__all__ = [
    "CONFIG_NAME",
    "CURRENT_VERSION",
    "ExportDefaults",
    "Settings",
    "dump_toml",
    "effective_config",
    "find_config",
    "load_settings",
    "migrate",
    "read_toml",
    "settings_from_dict",
]

CONFIG_NAME = "pixelmill.toml"
"""The file `find_config` looks for in the working directory."""
CURRENT_VERSION = 2
"""The `config_version` of the current format; older files are migrated to it."""

_Check: TypeAlias = tuple[str, Callable[[Any], bool]]
"""What a value must be, in words for the error message, and the test of it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportDefaults:
    """What CLI runs export and write when their flags do not say."""

    dir: Path | None = None
    """The export and output directory; None: the run must name one (`--out`)."""
    analyses: tuple[str, ...] | None = None
    """Analysis names; None: the CLI's default set."""
    format: str = "jpeg"
    quality: int = 85
    thumbnail: int | None = None
    """Shrink each image to fit this many pixels square; None: keep the size."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a configuration file says, validated: what `load_settings` returns."""

    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    export: ExportDefaults = field(default_factory=ExportDefaults)
    source: str = "<defaults>"
    """The file the settings came from, `<dict>` for a host's dict, or `<defaults>`."""


def _is_number(value: Any, *, integer: bool = False) -> bool:
    kinds = int if integer else int | float
    return not isinstance(value, bool) and isinstance(value, kinds) and math.isfinite(value)


def _choice(*names: str) -> _Check:
    return f"one of {', '.join(names)}", lambda value: isinstance(value, str) and value in names


_POSITIVE_INT: _Check = ("a positive integer", lambda v: _is_number(v, integer=True) and v > 0)
_COUNT: _Check = ("a non-negative integer", lambda v: _is_number(v, integer=True) and v >= 0)
_SECONDS: _Check = ("a positive number of seconds", lambda v: _is_number(v) and v > 0)
_DELAY: _Check = ("a non-negative number of seconds", lambda v: _is_number(v) and v >= 0)
_FRACTION: _Check = ("a number from 0 to 1", lambda v: _is_number(v) and 0 <= v <= 1)
_PERCENT: _Check = ("a number from 0 to 100", lambda v: _is_number(v) and 0 <= v <= 100)
_BOOLEAN: _Check = ("true or false", lambda v: isinstance(v, bool))
_TEXT: _Check = ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))
_NAMES: _Check = (
    "a list of names",
    lambda v: isinstance(v, list | tuple) and all(isinstance(n, str) and n for n in v),
)
_FAULT_TARGET: _Check = (
    f"one of {', '.join(FAULTS)}, or a table such as "
    f"{{ fault = \"hang\", attempts = [1], stage = \"probe\" }} (stage: {', '.join(STAGES)})",
    lambda v: v in FAULTS or (
        isinstance(v, Mapping) and set(v) <= {"fault", "attempts", "stage"}
        and v.get("fault") in FAULTS and v.get("stage", "work") in STAGES
        and isinstance(v.get("attempts", []), list)
        and all(_is_number(n, integer=True) and n >= 1 for n in v.get("attempts", []))
    ),
)

# Key order here is the order `effective_config` writes them in. "*" stands for
# any key of an open table.
_SCHEMA: dict[str, dict[str, Any]] = {
    "resources": {
        "cpu_slots": _POSITIVE_INT, "memory_mb": _POSITIVE_INT, "max_pixels": _POSITIVE_INT,
        "item_timeout_s": _SECONDS, "worker_memory_mb": _POSITIVE_INT,
        "batch_items": _POSITIVE_INT,
    },
    "input": {"formats": _NAMES, "include_hidden": _BOOLEAN},
    "monitoring": {
        "enabled": _BOOLEAN, "interval_s": _SECONDS, "history": _POSITIVE_INT,
        "thresholds": {
            "memory_percent": _PERCENT, "cpu_percent": _PERCENT,
            "disk_free_mb": ("a non-negative number", lambda v: _is_number(v) and v >= 0),
        },
    },
    "recovery": {
        "max_retries": _COUNT, "backoff_s": _DELAY, "backoff_max_s": _DELAY,
        "jitter": _FRACTION, "systemic_window": _COUNT, "systemic_ratio": _FRACTION,
        "max_restarts": _POSITIVE_INT, "restart_window_s": _SECONDS,
        "rules": {"*": _choice(*(strategy.value for strategy in Strategy))},
    },
    "export": {
        "dir": _TEXT, "analyses": _NAMES, "format": _choice("jpeg", "png", "webp"),
        "quality": (
            "an integer from 1 to 100", lambda v: _is_number(v, integer=True) and 1 <= v <= 100
        ),
        "thumbnail": _POSITIVE_INT,
    },
    "features": {"monitor": _BOOLEAN, "resource_manager": _BOOLEAN},
    "cache": {"enabled": _BOOLEAN, "max_entries": _POSITIVE_INT, "verify": _BOOLEAN},
    "logging": {
        # Read in any case, as version 1 files often spell it `INFO`.
        "level": (
            f"one of {', '.join(LEVELS)}",
            lambda v: isinstance(v, str) and v.lower() in LEVELS,
        ),
        "console": _BOOLEAN, "file": _TEXT,
    },
    # For drills only, off by default: see `_faults`.
    "faults": {
        "fail_rate": _FRACTION, "crash_rate": _FRACTION, "hang_rate": _FRACTION,
        "actor_crash_rate": _FRACTION, "actors": _NAMES,
        "seed": ("an integer", lambda v: _is_number(v, integer=True)),
        # File name -> "crash", or { fault = "hang", attempts = [1] }.
        "targets": {"*": _FAULT_TARGET},
    },
}

# Two keys may set one field (`monitoring.enabled`, `features.monitor`): they
# must then agree.
_RUNTIME_FIELDS: dict[str, str] = {
    "resources.cpu_slots": "workers", "resources.memory_mb": "memory_mb",
    "resources.max_pixels": "max_pixels", "resources.item_timeout_s": "item_timeout_s",
    "resources.worker_memory_mb": "worker_memory_mb", "resources.batch_items": "batch_items",
    "input.formats": "formats", "input.include_hidden": "include_hidden",
    "monitoring.enabled": "monitor_enabled", "monitoring.interval_s": "monitor_interval_s",
    "monitoring.history": "monitor_history",
    "features.monitor": "monitor_enabled", "features.resource_manager": "admission_control",
    "recovery.max_restarts": "max_restarts", "recovery.restart_window_s": "restart_window_s",
    "logging.level": "log_level", "logging.console": "log_console", "logging.file": "log_file",
    "cache.enabled": "cache_enabled", "cache.max_entries": "cache_max_entries",
    "cache.verify": "verify_cache",
}
_FAULT_RATES = ("fail_rate", "crash_rate", "hang_rate", "actor_crash_rate")
_POLICY_KEYS = ("backoff_s", "backoff_max_s", "jitter", "systemic_window", "systemic_ratio")
_RETRYING = (Strategy.RETRY, Strategy.DEGRADE)
_REASON = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_V1_KEYS: dict[str, str] = {
    "max_workers": "resources.cpu_slots", "output_directory": "export.dir",
    "analysis_types": "export.analyses", "memory_limit_mb": "resources.memory_mb",
    "retry_count": "recovery.max_retries", "log_level": "logging.level",
    "enable_monitoring": "monitoring.enabled",
}
_V1_NAMES = {new: old for old, new in _V1_KEYS.items()}
"""How errors name a migrated key: as the version 1 file spelled it."""


def find_config(explicit: Path | None, cwd: Path) -> Path | None:
    """The configuration file to use: `explicit`, else `pixelmill.toml` in `cwd`, else None.

    An explicit path is returned even when missing, so that `load_settings` says so.
    """
    if explicit is not None:
        return cwd / explicit.expanduser()
    found = cwd / CONFIG_NAME
    return found if found.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a `ConfigError` names the file, and the line of a syntax error."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib names the line, except for errors at the very end.
        where = f"at end of document, line {len(text.splitlines()) or 1}"
        message = str(exc).replace("at end of document", where)
        raise ConfigError(f"{path}: invalid TOML: {message}") from None


def load_settings(path: Path | None) -> Settings:
    """The settings of a configuration file, or the defaults when `path` is None.

    Relative `export.dir` and `logging.file` are taken from the file's directory.
    A `ConfigError` starts with the file's path: `pixelmill.toml: resources...`.
    """
    if path is None:
        return Settings()
    data = read_toml(path)
    try:
        return settings_from_dict(data, source=str(path), base_dir=path.absolute().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def settings_from_dict(
    data: Mapping[str, Any], *, source: str = "<dict>", base_dir: Path | None = None
) -> Settings:
    """Validate a host's settings exactly as a file's, of any accepted version.

    Args:
        data: What a configuration file would hold, parsed; a None value is unset.
        source: Recorded in `Settings.source`.
        base_dir: Relative paths are taken from here; None leaves them relative.

    Raises:
        ConfigError: `resources.memory_mb: expected a positive integer, got "lots"`.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a table of settings, got {_shown(data)}")
    names = _V1_NAMES if _version(data) == 1 else {}
    body = {key: value for key, value in migrate(data).items() if key != "config_version"}
    if misplaced := sorted(body.keys() & _V1_KEYS.keys()):
        key = misplaced[0]
        raise ConfigError(f"{key}: unknown key (a version 1 key; now {_V1_KEYS[key]})")
    return _settings(_validated(body, _SCHEMA, "", names), source, base_dir)


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The same configuration in the current format, in memory; not otherwise validated.

    Raises:
        ConfigError: an unknown `config_version`, or a key version 1 did not have.
    """
    version = _version(data)
    if version == CURRENT_VERSION:
        rest = {key: value for key, value in data.items() if key != "config_version"}
        return {"config_version": CURRENT_VERSION, **_plain(rest)}
    migrated: dict[str, Any] = {"config_version": CURRENT_VERSION}
    for key, value in data.items():
        if key == "config_version":
            continue
        if key not in _V1_KEYS:
            hint = f"sections need config_version = {CURRENT_VERSION}" if key in _SCHEMA else ""
            hint = hint or _did_you_mean(str(key), _V1_KEYS)
            raise ConfigError(f"{key}: unknown key in a version 1 file ({hint})")
        if key == "analysis_types" and isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        section, new_key = _V1_KEYS[key].split(".")
        migrated.setdefault(section, {})[new_key] = _plain(value)
    return migrated


def dump_toml(data: Mapping[str, Any]) -> str:
    """`data` as TOML text; None values are left out, as TOML has no null."""
    try:
        return tomli_w.dumps(_plain(data))
    except TypeError as exc:
        raise ConfigError(f"cannot write as TOML: {exc}") from None


def effective_config(settings: Settings) -> dict[str, Any]:
    """Everything in effect, defaults included, as a current-version dict; None is left out.

    `[faults]` is there only when a `FaultPlan` is set. Read back, it gives the
    same settings, unless a host built rules whose attempts a file cannot say
    (see `_policy`) or a `FaultPlan` whose rates are all 0 (that reads back as None).
    """
    runtime, policy, export = settings.runtime, settings.runtime.recovery, settings.export
    values = {where: getattr(runtime, name) for where, name in _RUNTIME_FIELDS.items()}
    values |= {f"recovery.{key}": getattr(policy, key) for key in _POLICY_KEYS}
    values["recovery.max_retries"] = policy.rule_for("io.transient").max_attempts - 1
    values["recovery.rules"] = {cls: rule.strategy.value for cls, rule in policy.rules.items()}
    values |= {f"export.{key}": getattr(export, key) for key in _SCHEMA["export"]}
    values["monitoring.thresholds"] = dict(runtime.thresholds)
    if runtime.faults is not None:
        values |= {f"faults.{key}": getattr(runtime.faults, key) for key in _SCHEMA["faults"]}
        values["faults.targets"] = _target_table(runtime.faults.targets) or None
    data: dict[str, Any] = {"config_version": CURRENT_VERSION}
    for section, keys in _SCHEMA.items():
        if section == "faults" and runtime.faults is None:
            continue
        data[section] = _plain({key: values[f"{section}.{key}"] for key in keys})
    return data


def _version(data: Mapping[str, Any]) -> int:
    version = data.get("config_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"config_version: expected a positive integer, got {_shown(version)}")
    if version > CURRENT_VERSION:
        raise ConfigError(f"config_version: {version} is newer than this pixelmill reads "
                          f"(at most {CURRENT_VERSION}); upgrade pixelmill")
    return version


def _validated(
    table: Mapping[str, Any], schema: Mapping[str, Any], path: str, names: Mapping[str, str]
) -> dict[str, Any]:
    """`table` checked against `schema`, None values dropped; `names` renames paths."""
    checked: dict[str, Any] = {}
    for key, value in table.items():
        where = _join(path, str(key))
        shown = names.get(where, where)
        rule = schema.get(key, schema.get("*"))
        if rule is None:
            hint = _did_you_mean(str(key), schema)
            raise ConfigError(f"{shown}: unknown {'key' if path else 'section'} ({hint})")
        if value is None:
            continue
        if isinstance(rule, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{shown}: expected a table, got {_shown(value)}")
            checked[key] = _validated(value, rule, where, names)
            continue
        expected, accepts = rule
        if not accepts(value):
            raise ConfigError(f"{shown}: expected {expected}, got {_shown(value)}")
        checked[key] = _plain(value)
    return checked


def _settings(checked: Mapping[str, Any], source: str, base_dir: Path | None) -> Settings:
    fields: dict[str, Any] = {}
    for where, name in _RUNTIME_FIELDS.items():
        section, key = where.split(".")
        value = checked.get(section, {}).get(key)
        if value is not None and fields.setdefault(name, value) != value:
            first = next(other for other, same in _RUNTIME_FIELDS.items() if same == name)
            shown = f"{first} = {_shown(fields[name])}"
            raise ConfigError(f"{where}: {_shown(value)} contradicts {shown}")
    if "log_file" in fields:
        fields["log_file"] = _resolved(fields["log_file"], base_dir)
    if "log_level" in fields:
        fields["log_level"] = fields["log_level"].lower()
    if "formats" in fields:
        fields["formats"] = check_formats(fields["formats"], key="input.formats")
    export = dict(checked.get("export", {}))
    if "dir" in export:
        export["dir"] = _resolved(export["dir"], base_dir)
    if "analyses" in export:
        export["analyses"] = tuple(export["analyses"])
    return Settings(
        runtime=RuntimeConfig(
            **fields,
            recovery=_policy(checked.get("recovery", {})),
            faults=_faults(checked.get("faults", {})),
            thresholds=checked.get("monitoring", {}).get("thresholds", {}),
        ),
        export=ExportDefaults(**export),
        source=source,
    )


def _policy(recovery: Mapping[str, Any]) -> RecoveryPolicy:
    """The recovery policy of a validated `[recovery]` section.

    `max_retries` sets the attempts of `io.transient`. A rule in `rules` sets
    a class's strategy and keeps its current rule's attempts and ending; a
    class that starts retrying by it gets `max_retries + 1` attempts.
    """
    policy = RecoveryPolicy(**{key: recovery[key] for key in _POLICY_KEYS if key in recovery})
    transient = policy.rule_for("io.transient")
    attempts = recovery.get("max_retries", transient.max_attempts - 1) + 1
    policy = policy.with_rules({"io.transient": replace(transient, max_attempts=attempts)})
    overrides: dict[str, Rule] = {}
    for reason, name in recovery.get("rules", {}).items():
        if not _REASON.fullmatch(reason):
            raise ConfigError(
                f"{_join('recovery.rules', reason)}: expected a dotted failure class "
                f'such as "io.transient" as the key'
            )
        base, strategy = policy.rule_for(reason), Strategy(name)
        starts_retrying = strategy in _RETRYING and base.strategy not in _RETRYING
        most = attempts if starts_retrying else base.max_attempts
        overrides[reason] = Rule(strategy, max_attempts=most, exhausted=base.exhausted)
    return policy.with_rules(overrides)


def _faults(table: Mapping[str, Any]) -> FaultPlan | None:
    """The fault plan of a validated `[faults]` table; None unless a rate is above 0
    or an input is targeted.

    Every role is checked even then; that the worker rates add up to at most 1
    is `RuntimeConfig`'s check (`faults: fail_rate + crash_rate + hang_rate ...`).
    """
    for name in table.get("actors", ()):
        if name not in ACTOR_ROLES:
            close = difflib.get_close_matches(name, ACTOR_ROLES, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"faults.actors: unknown role {_shown(name)} "
                f"({hint}known: {', '.join(ACTOR_ROLES)})"
            )
    if not any(table.get(key) for key in (*_FAULT_RATES, "targets")):
        return None
    plan = dict(table)
    if "actors" in plan:
        plan["actors"] = tuple(plan["actors"])
    if "targets" in plan:
        # Each is a fault's name or a {fault, attempts} table (see `_FAULT_TARGET`).
        plan["targets"] = tuple(
            FaultTarget(name, cast("Fault", fault)) if isinstance(fault, str)
            else FaultTarget(name, fault["fault"], tuple(fault.get("attempts", ())),
                             fault.get("stage", "work"))
            for name, fault in plan["targets"].items()
        )
    return FaultPlan(**plan)


def _target_table(targets: tuple[FaultTarget, ...]) -> dict[str, Any]:
    """`FaultPlan.targets` as a `[faults.targets]` table (the reverse of `_faults`)."""
    return {
        target.name: {
            "fault": target.fault,
            **({"attempts": list(target.attempts)} if target.attempts else {}),
            **({"stage": target.stage} if target.stage != "work" else {}),
        }
        if target.attempts or target.stage != "work" else target.fault
        for target in targets
    }


def _resolved(text: str | Path, base_dir: Path | None) -> Path:
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~name" of no such user: kept as written, as a shell keeps it
        path = Path(text)
    return base_dir / path if base_dir is not None else path


def _did_you_mean(key: str, known: Mapping[str, Any]) -> str:
    names = [name for name in known if name != "*"]
    close = difflib.get_close_matches(key, names, n=1)
    return f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(names))}"


def _join(path: str, key: str) -> str:
    shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def _shown(value: Any) -> str:
    """A value as a TOML file would spell it, near enough: `"lots"`, `true`, `[1, 2]`."""
    return json.dumps(_plain(value), ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    """Plain TOML-ready data: a copy with None dropped, paths as text, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
