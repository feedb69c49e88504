"""Configuration files: migration, validation messages, settings and round trips."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelmill.actors.recovery import RecoveryPolicy, Rule, Strategy
from pixelmill.errors import ConfigError
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.config_file import (
    CURRENT_VERSION,
    ExportDefaults,
    Settings,
    dump_toml,
    effective_config,
    find_config,
    load_settings,
    migrate,
    settings_from_dict,
)
from pixelmill.workers.faults import ACTOR_ROLES, FaultPlan, FaultTarget

V1 = """\
max_workers = 3
output_directory = "out"
analysis_types = "rgb_histogram, luminance"
memory_limit_mb = 2048
retry_count = 4
log_level = "debug"
enable_monitoring = false
"""

V2 = """\
config_version = 2
[resources]
cpu_slots = 3
memory_mb = 2048
[monitoring]
enabled = false
[recovery]
max_retries = 4
[export]
dir = "out"
analyses = ["rgb_histogram", "luminance"]
[logging]
level = "debug"
"""


def _write(folder: Path, text: str, name: str = "pixelmill.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _same(left: Settings, right: Settings) -> bool:
    """Equal but for where they came from."""
    return dataclasses.replace(left, source=right.source) == right


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(data)
    return str(info.value)


def test_a_v1_flat_file_gives_the_same_settings_as_its_v2_equivalent(tmp_path: Path) -> None:
    old = load_settings(_write(tmp_path, V1, name="old.toml"))
    new = load_settings(_write(tmp_path, V2, name="new.toml"))
    assert _same(old, new)
    assert old.runtime.workers == 3
    assert old.runtime.memory_mb == 2048
    assert old.runtime.log_level == "debug"
    assert old.runtime.monitor_enabled is False
    assert old.runtime.recovery.rule_for("io.transient").max_attempts == 5
    assert old.export.analyses == ("rgb_histogram", "luminance")


def test_a_file_without_config_version_is_version_1() -> None:
    assert migrate({"max_workers": 2}) == {"config_version": 2, "resources": {"cpu_slots": 2}}
    assert migrate({"config_version": 1, "analysis_types": ["a"]}) == {
        "config_version": 2,
        "export": {"analyses": ["a"]},
    }


def test_a_migrated_v1_file_dumps_to_toml_that_parses_back_to_the_same_dict() -> None:
    migrated = migrate(tomllib.loads(V1))
    assert tomllib.loads(dump_toml(migrated)) == migrated == tomllib.loads(V2)


def test_migrate_leaves_a_current_file_as_it_is_and_does_not_share_its_tables() -> None:
    data = tomllib.loads(V2)
    migrated = migrate(data)
    assert migrated == data
    migrated["resources"]["cpu_slots"] = 99
    assert data["resources"]["cpu_slots"] == 3


def test_a_newer_config_version_is_refused_saying_so() -> None:
    with pytest.raises(ConfigError, match=r"^config_version: 3 is newer than this pixelmill"):
        migrate({"config_version": 3})


def test_a_config_version_that_is_not_a_version_is_named() -> None:
    assert _error({"config_version": "2"}) == (
        'config_version: expected a positive integer, got "2"'
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("resources", "memory_mb", "lots",
         'resources.memory_mb: expected a positive integer, got "lots"'),
        ("resources", "cpu_slots", 0, "resources.cpu_slots: expected a positive integer, got 0"),
        ("resources", "item_timeout_s", -1,
         "resources.item_timeout_s: expected a positive number of seconds, got -1"),
        ("monitoring", "enabled", "yes", 'monitoring.enabled: expected true or false, got "yes"'),
        ("recovery", "max_retries", -1,
         "recovery.max_retries: expected a non-negative integer, got -1"),
        ("recovery", "jitter", 1.5, "recovery.jitter: expected a number from 0 to 1, got 1.5"),
        ("recovery", "systemic_ratio", True,
         "recovery.systemic_ratio: expected a number from 0 to 1, got true"),
        ("export", "format", "gif", 'export.format: expected one of jpeg, png, webp, got "gif"'),
        ("export", "quality", 101, "export.quality: expected an integer from 1 to 100, got 101"),
        ("export", "analyses", "luminance",
         'export.analyses: expected a list of names, got "luminance"'),
        ("logging", "level", "loud",
         'logging.level: expected one of debug, info, warning, error, critical, got "loud"'),
        ("features", "resource_manager", 1,
         "features.resource_manager: expected true or false, got 1"),
        ("faults", "actor_crash_rate", 2,
         "faults.actor_crash_rate: expected a number from 0 to 1, got 2"),
        ("faults", "crash_rate", -0.1,
         "faults.crash_rate: expected a number from 0 to 1, got -0.1"),
        ("faults", "fail_rate", "often",
         'faults.fail_rate: expected a number from 0 to 1, got "often"'),
        ("faults", "actors", "exporter", 'faults.actors: expected a list of names, got "exporter"'),
        ("faults", "seed", 1.5, "faults.seed: expected an integer, got 1.5"),
    ],
)
def test_a_bad_value_is_named_by_key_path_value_and_expectation(
    section: str, key: str, value: object, message: str
) -> None:
    assert _error({"config_version": 2, section: {key: value}}) == message


def test_a_bad_threshold_is_named_by_its_full_path() -> None:
    data = {"config_version": 2, "monitoring": {"thresholds": {"memory_percent": "high"}}}
    assert _error(data) == (
        'monitoring.thresholds.memory_percent: expected a number from 0 to 100, got "high"'
    )


def test_a_section_that_is_not_a_table_is_named() -> None:
    assert _error({"config_version": 2, "resources": 4}) == "resources: expected a table, got 4"


def test_an_unknown_key_is_named_with_a_did_you_mean() -> None:
    assert _error({"config_version": 2, "resources": {"memroy_mb": 1}}) == (
        "resources.memroy_mb: unknown key (did you mean memory_mb?)"
    )


def test_an_unknown_section_is_named_with_a_did_you_mean() -> None:
    assert _error({"config_version": 2, "resorces": {}}) == (
        "resorces: unknown section (did you mean resources?)"
    )


def test_an_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    assert _error({"config_version": 2, "features": {"zzz": True}}) == (
        "features.zzz: unknown key (known: monitor, resource_manager)"
    )


def test_a_version_1_key_in_a_version_2_file_says_where_it_went() -> None:
    assert _error({"config_version": 2, "max_workers": 2}) == (
        "max_workers: unknown key (a version 1 key; now resources.cpu_slots)"
    )


def test_a_version_1_file_with_an_unknown_key_gets_a_did_you_mean() -> None:
    assert _error({"max_wrokers": 2}) == (
        "max_wrokers: unknown key in a version 1 file (did you mean max_workers?)"
    )


def test_a_section_in_a_file_without_config_version_says_sections_need_version_2() -> None:
    assert "sections need config_version = 2" in _error({"resources": {"cpu_slots": 2}})


def test_a_bad_value_in_a_version_1_file_is_named_as_the_file_spells_it() -> None:
    assert _error({"max_workers": 0}) == "max_workers: expected a positive integer, got 0"


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "config_version = 2\n[resources]\ncpu_slots = = 3\n")
    with pytest.raises(ConfigError, match=r"pixelmill\.toml: invalid TOML: .*line 3") as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_a_missing_explicit_file_is_named(tmp_path: Path) -> None:
    path = find_config(Path("nowhere.toml"), tmp_path)
    assert path == tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"nowhere\.toml: no such file"):
        load_settings(path)


def test_an_error_in_a_file_starts_with_the_files_path(tmp_path: Path) -> None:
    path = _write(tmp_path, 'config_version = 2\n[resources]\nmemory_mb = "lots"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f'{path}: resources.memory_mb: expected a positive integer, got "lots"'
    )


def test_find_config_takes_the_explicit_file_then_pixelmill_toml_in_cwd(tmp_path: Path) -> None:
    assert find_config(None, tmp_path) is None
    found = _write(tmp_path, "")
    assert find_config(None, tmp_path) == found
    assert find_config(Path("/etc/other.toml"), tmp_path) == Path("/etc/other.toml")


def test_load_settings_without_a_file_gives_the_defaults() -> None:
    assert load_settings(None) == Settings(source="<defaults>")


def test_relative_paths_are_taken_from_the_config_files_directory(tmp_path: Path) -> None:
    text = 'config_version = 2\n[export]\ndir = "out"\n[logging]\nfile = "logs/run.jsonl"\n'
    loaded = load_settings(_write(tmp_path / "conf", text))
    assert loaded.export.dir == tmp_path / "conf" / "out"
    assert loaded.runtime.log_file == tmp_path / "conf" / "logs" / "run.jsonl"
    absolute = settings_from_dict({"output_directory": "/srv"}, base_dir=tmp_path)
    assert absolute.export.dir == Path("/srv")


def test_recovery_settings_build_the_policy_and_rules_override_strategies() -> None:
    loaded = settings_from_dict({"config_version": 2, "recovery": {
        "max_retries": 1, "backoff_s": 0.5, "jitter": 0, "systemic_window": 0,
        "rules": {"input.truncated": "retry", "output": "fail", "worker.crashed": "skip"},
    }})
    policy = loaded.runtime.recovery
    assert (policy.backoff_s, policy.jitter, policy.systemic_window) == (0.5, 0, 0)
    assert policy.rule_for("io.transient") == Rule(Strategy.RETRY, max_attempts=2)
    # A class that starts retrying gets max_retries + 1 attempts.
    assert policy.rule_for("input.truncated") == Rule(Strategy.RETRY, max_attempts=2)
    assert policy.rule_for("input.not_image").strategy is Strategy.SKIP
    assert policy.rule_for("output.no_space") == Rule(Strategy.FAIL)
    # How a rule ends is kept when only its strategy changes.
    assert policy.rule_for("worker.crashed") == Rule(
        Strategy.SKIP, max_attempts=2, exhausted=Strategy.SKIP
    )


def test_a_bad_recovery_rule_names_the_class_and_the_strategies() -> None:
    data = {"config_version": 2, "recovery": {"rules": {"io.transient": "retyr"}}}
    assert _error(data) == (
        'recovery.rules."io.transient": expected one of retry, degrade, skip, fail, abort, '
        'got "retyr"'
    )
    data = {"config_version": 2, "recovery": {"rules": {"IO Error": "retry"}}}
    assert _error(data).startswith('recovery.rules."IO Error": expected a dotted failure class')


def test_no_retries_means_a_transient_failure_fails_at_once() -> None:
    loaded = settings_from_dict({"config_version": 2, "recovery": {"max_retries": 0}})
    policy = loaded.runtime.recovery
    assert policy.decide("io.transient", attempt=1).strategy is Strategy.FAIL


def test_a_log_level_is_read_in_any_case() -> None:
    assert settings_from_dict({"log_level": "WARNING"}).runtime.log_level == "warning"


def test_features_switch_the_monitor_and_admission_control() -> None:
    loaded = settings_from_dict(
        {"config_version": 2, "features": {"monitor": False, "resource_manager": False}}
    )
    assert loaded.runtime.monitor_enabled is False
    assert loaded.runtime.admission_control is False


def test_monitoring_enabled_and_features_monitor_must_agree() -> None:
    data = {"config_version": 2, "monitoring": {"enabled": True}, "features": {"monitor": False}}
    assert _error(data) == "features.monitor: false contradicts monitoring.enabled = true"


def test_a_hosts_dict_is_validated_like_a_file_and_none_means_unset() -> None:
    loaded = settings_from_dict(
        {"config_version": 2, "resources": {"cpu_slots": 2, "memory_mb": None}}, source="host"
    )
    assert loaded.runtime == RuntimeConfig(workers=2)
    assert loaded.source == "host"
    assert _error({"config_version": 2, "resources": {"memory_mb": "lots"}}) == (
        'resources.memory_mb: expected a positive integer, got "lots"'
    )
    with pytest.raises(ConfigError, match="expected a table of settings"):
        settings_from_dict(["not", "a", "table"])  # type: ignore[arg-type]


def test_thresholds_are_validated_and_carried_to_the_runtime() -> None:
    thresholds = {"memory_percent": 90, "cpu_percent": 95.5, "disk_free_mb": 0}
    loaded = settings_from_dict(
        {"config_version": 2, "monitoring": {"thresholds": thresholds}}
    )
    assert dict(loaded.runtime.thresholds) == thresholds


@pytest.mark.parametrize(("levels", "message"), [
    ({"memory": 3}, "thresholds.memory: unknown threshold (known: memory_percent, cpu_percent"),
    ({"cpu_percent": 101}, "thresholds.cpu_percent: expected a number from 0 to 100, got 101"),
    ({"disk_free_mb": -1}, "thresholds.disk_free_mb: expected a number >= 0, got -1"),
])
def test_a_host_gets_one_line_naming_a_bad_threshold(
    levels: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        RuntimeConfig(thresholds=levels)


def test_export_defaults_are_carried_in_settings() -> None:
    loaded = settings_from_dict({"config_version": 2, "export": {
        "analyses": ["luminance"], "format": "webp", "quality": 70, "thumbnail": 256,
    }})
    assert loaded.export == ExportDefaults(
        analyses=("luminance",), format="webp", quality=70, thumbnail=256
    )


def test_effective_config_shows_the_defaults_and_reloads_to_the_same_settings() -> None:
    loaded = settings_from_dict({"config_version": 2, "recovery": {
        "max_retries": 0, "rules": {"io.transient": "skip", "input.truncated": "degrade"},
    }})
    shown = effective_config(loaded)
    assert shown["config_version"] == CURRENT_VERSION
    assert shown["resources"]["max_pixels"] == RuntimeConfig().max_pixels
    assert shown["recovery"]["max_retries"] == 0
    assert shown["recovery"]["rules"]["worker.timeout"] == "skip"
    assert "memory_mb" not in shown["resources"]  # unset: TOML has no null
    assert settings_from_dict(tomllib.loads(dump_toml(shown))) == loaded
    defaults = settings_from_dict(effective_config(Settings()))
    assert defaults.runtime.recovery == RecoveryPolicy()


def test_dump_toml_leaves_out_none_and_writes_paths_as_text() -> None:
    text = dump_toml({"config_version": 2, "export": {"dir": Path("/out"), "thumbnail": None}})
    assert tomllib.loads(text) == {"config_version": 2, "export": {"dir": "/out"}}


DRILL = """\
config_version = 2
[faults]
fail_rate = 0.05
crash_rate = 0.01
hang_rate = 0.01
actor_crash_rate = 0.002
actors = ["job_manager", "exporter"]
seed = 7
"""


def test_a_drill_file_loads_into_its_fault_plan(tmp_path: Path) -> None:
    loaded = load_settings(_write(tmp_path, DRILL))
    assert loaded.runtime.faults == FaultPlan(
        fail_rate=0.05, crash_rate=0.01, hang_rate=0.01, actor_crash_rate=0.002,
        actors=("job_manager", "exporter"), seed=7,
    )


def test_a_faults_table_without_actors_applies_to_every_role() -> None:
    loaded = settings_from_dict({"config_version": 2, "faults": {"actor_crash_rate": 0.1}})
    assert loaded.runtime.faults == FaultPlan(actor_crash_rate=0.1, actors=ACTOR_ROLES)


def test_no_faults_table_or_only_zero_rates_means_no_faults() -> None:
    assert settings_from_dict({"config_version": 2}).runtime.faults is None
    zero = {"fail_rate": 0, "crash_rate": 0.0, "actors": ["monitor"], "seed": 3}
    assert settings_from_dict({"config_version": 2, "faults": zero}).runtime.faults is None


def test_an_unknown_role_is_named_with_a_did_you_mean_and_the_known_roles() -> None:
    known = "job_manager, exporter, resource_manager, processor_pool, monitor, supervisor"
    close = {"config_version": 2, "faults": {"actor_crash_rate": 0.1, "actors": ["job_manger"]}}
    assert _error(close) == (
        f'faults.actors: unknown role "job_manger" (did you mean job_manager? known: {known})'
    )
    # Checked even where no rate is set, so the typo is found before the drill.
    far = {"config_version": 2, "faults": {"actors": ["exporter", "gpu"]}}
    assert _error(far) == f'faults.actors: unknown role "gpu" (known: {known})'


def test_worker_fault_rates_adding_up_past_1_are_refused_naming_the_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, DRILL.replace("fail_rate = 0.05", "fail_rate = 0.995"))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == (
        f"{path}: faults: fail_rate + crash_rate + hang_rate must be at most 1, got 1.015"
    )
    # Added up with +, these make 1.0000000000000002.
    exact = {"fail_rate": 0.34, "crash_rate": 0.56, "hang_rate": 0.1}
    assert settings_from_dict({"config_version": 2, "faults": exact}).runtime.faults is not None


def test_an_unknown_faults_key_gets_a_did_you_mean() -> None:
    assert _error({"config_version": 2, "faults": {"actor_crash": 0.1}}) == (
        "faults.actor_crash: unknown key (did you mean actor_crash_rate?)"
    )


def test_config_show_prints_faults_only_when_set_and_reads_them_back(tmp_path: Path) -> None:
    assert "faults" not in effective_config(Settings())
    drill = load_settings(_write(tmp_path, DRILL))
    shown = effective_config(drill)
    assert shown["faults"] == {
        "fail_rate": 0.05, "crash_rate": 0.01, "hang_rate": 0.01, "actor_crash_rate": 0.002,
        "actors": ["job_manager", "exporter"], "seed": 7,
    }
    # What `pixelmill config show` prints, written to a file and loaded again.
    again = load_settings(_write(tmp_path / "shown", dump_toml(shown)))
    assert again.runtime.faults == drill.runtime.faults
    assert _same(again, drill)


TARGETED = """\
config_version = 2
[faults.targets]
"b.png" = "crash"
"a.png" = { fault = "hang", attempts = [1] }
"c.png" = { fault = "hang", stage = "probe" }
"""


def test_a_targets_table_names_inputs_and_their_faults_and_reads_back(tmp_path: Path) -> None:
    loaded = load_settings(_write(tmp_path, TARGETED))
    assert loaded.runtime.faults == FaultPlan(targets=(
        FaultTarget("b.png", "crash"), FaultTarget("a.png", "hang", attempts=(1,)),
        FaultTarget("c.png", "hang", stage="probe"),
    )), "targets alone, with every rate 0, make a plan"
    shown = effective_config(loaded)
    assert shown["faults"]["targets"] == {
        "b.png": "crash", "a.png": {"fault": "hang", "attempts": [1]},
        "c.png": {"fault": "hang", "stage": "probe"},
    }
    again = load_settings(_write(tmp_path / "shown", dump_toml(shown)))
    assert _same(again, loaded)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ('"boom"', 'faults.targets."b.png": expected one of fail, crash, hang, or a table '
                   'such as { fault = "hang", attempts = [1], stage = "probe" } '
                   '(stage: work, probe), got "boom"'),
        ('{ fault = "hang", stage = "decode" }', 'faults.targets."b.png": expected one of '),
        ('{ fault = "hang", attempts = [0] }', 'faults.targets."b.png": expected one of '),
        ('{ fault = "hang", when = [1] }', 'faults.targets."b.png": expected one of '),
    ],
)
def test_a_bad_target_in_a_file_is_named_with_its_key(target: str, message: str) -> None:
    data = tomllib.loads(f'config_version = 2\n[faults.targets]\n"b.png" = {target}\n')
    assert _error(data).startswith(message)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (FaultPlan(targets=(("b.png", "crash"),)),  # type: ignore[arg-type]
         "faults.targets: expected a list of FaultTarget, got (('b.png', 'crash'),)"),
        (FaultPlan(targets=(FaultTarget("in/b.png", "crash"),)),
         "faults.targets: expected a file name, got 'in/b.png'"),
        (FaultPlan(targets=(FaultTarget("", "crash"),)),
         "faults.targets: expected a file name, got ''"),
        (FaultPlan(targets=(FaultTarget("b.png", "boom"),)),  # type: ignore[arg-type]
         "faults.targets: unknown fault 'boom' for b.png (known: fail, crash, hang)"),
        (FaultPlan(targets=(FaultTarget("b.png", "hang", attempts=(0,)),)),
         "faults.targets: attempts of b.png: expected positive integers, got (0,)"),
        (FaultPlan(targets=(FaultTarget("b.png", "hang"), FaultTarget("b.png", "fail", (2,)))),
         "faults.targets: b.png is named twice"),
    ],
)
def test_runtime_config_checks_its_fault_targets(faults: FaultPlan, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(faults=faults)
    assert str(info.value) == message


def test_runtime_config_takes_a_hosts_lists_of_targets_and_attempts_as_tuples() -> None:
    targets = [FaultTarget("a.png", "hang", attempts=[1, 2])]  # type: ignore[arg-type]
    config = RuntimeConfig(faults=FaultPlan(targets=targets))  # type: ignore[arg-type]
    assert config.faults == FaultPlan(targets=(FaultTarget("a.png", "hang", attempts=(1, 2)),))
    assert hash(config.faults)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (FaultPlan(actor_crash_rate=2),
         "faults.actor_crash_rate: expected a number from 0 to 1, got 2"),
        (FaultPlan(hang_rate=float("nan")),
         "faults.hang_rate: expected a number from 0 to 1, got nan"),
        (FaultPlan(fail_rate=True), "faults.fail_rate: expected a number from 0 to 1, got True"),
        (FaultPlan(fail_rate=0.5, crash_rate=0.25, hang_rate=0.5),
         "faults: fail_rate + crash_rate + hang_rate must be at most 1, got 1.25"),
        (FaultPlan(actors=("supervisor", "boss")),
         "faults.actors: unknown role 'boss' (known: job_manager, exporter, resource_manager, "
         "processor_pool, monitor, supervisor)"),
        (FaultPlan(actors="exporter"),  # type: ignore[arg-type]
         "faults.actors: expected a list of role names, got 'exporter'"),
        (FaultPlan(seed="7"), "faults.seed: expected an integer, got '7'"),  # type: ignore[arg-type]
        ({"fail_rate": 0.1}, "faults: expected a FaultPlan or None, got {'fail_rate': 0.1}"),
    ],
)
def test_runtime_config_checks_its_fault_plan_naming_the_field(
    faults: object, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(faults=faults)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_runtime_config_takes_a_hosts_list_of_roles_as_a_tuple() -> None:
    roles = ["exporter", "monitor"]
    config = RuntimeConfig(faults=FaultPlan(actor_crash_rate=0.5, actors=roles))  # type: ignore[arg-type]
    assert config.faults == FaultPlan(actor_crash_rate=0.5, actors=("exporter", "monitor"))


_NAME = st.text(min_size=1, max_size=12)
_PATH = _NAME.filter(str.strip)
_SECONDS = st.floats(min_value=0.001, max_value=1e6) | st.integers(1, 10**6)
_SHARE = st.floats(min_value=0, max_value=1)
_THIRD = st.floats(min_value=0, max_value=1 / 3)
"""A worker rate: three of them add up to at most 1."""


def _section(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=keys)


@st.composite
def _v2_dicts(draw: st.DrawFn) -> dict[str, Any]:
    monitor = draw(st.booleans())
    sections = draw(_section(
        resources=_section(
            cpu_slots=st.integers(1, 512), memory_mb=st.integers(1, 2**40),
            max_pixels=st.integers(1, 2**40), item_timeout_s=_SECONDS,
            worker_memory_mb=st.integers(1, 2**20),
        ),
        monitoring=_section(
            enabled=st.just(monitor), interval_s=_SECONDS, history=st.integers(1, 10**5),
            thresholds=_section(
                memory_percent=st.floats(0, 100), cpu_percent=st.integers(0, 100),
                disk_free_mb=st.floats(0, 1e9),
            ),
        ),
        recovery=_section(
            max_retries=st.integers(0, 20), backoff_s=st.floats(0, 60),
            backoff_max_s=st.floats(0, 600), jitter=_SHARE, systemic_window=st.integers(0, 100),
            systemic_ratio=_SHARE, max_restarts=st.integers(1, 100), restart_window_s=_SECONDS,
            rules=st.dictionaries(
                st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True),
                st.sampled_from([strategy.value for strategy in Strategy]), max_size=4,
            ),
        ),
        export=_section(
            dir=_PATH, analyses=st.lists(_NAME, max_size=4),
            format=st.sampled_from(["jpeg", "png", "webp"]), quality=st.integers(1, 100),
            thumbnail=st.integers(1, 10**5),
        ),
        features=_section(monitor=st.just(monitor), resource_manager=st.booleans()),
        logging=_section(
            level=st.sampled_from(["debug", "info", "warning", "error", "critical"]),
            console=st.booleans(), file=_PATH,
        ),
        faults=_section(
            fail_rate=_THIRD, crash_rate=_THIRD, hang_rate=_THIRD, actor_crash_rate=_SHARE,
            actors=st.lists(st.sampled_from(ACTOR_ROLES), max_size=6),
            seed=st.integers(-(2**63), 2**63 - 1),
        ),
    ))
    return {"config_version": 2, **sections}


@settings(max_examples=60, deadline=None)
@given(data=_v2_dicts())
def test_any_valid_v2_dict_survives_dump_and_load_unchanged(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    text = dump_toml(data)
    assert tomllib.loads(text) == data
    path = _write(tmp_path_factory.mktemp("config"), text)
    assert _same(load_settings(path), settings_from_dict(data, base_dir=path.parent))
