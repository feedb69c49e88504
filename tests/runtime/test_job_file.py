"""Job files: a batch job in TOML, checked before any runtime starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelmill.errors import ConfigError
from pixelmill.messages import Priority
from pixelmill.runtime.job_file import is_job_file, load_job_file

GOOD = """\
config_version = 2
[job]
name = "thumbs"
priority = "high"
inputs = ["photos/", "more/*.png", "/abs/one.jpg"]
export_dir = "out"
output_dir = "out/images"
analyses = ["rgb_histogram", "channel_stats"]
[[pipeline]]
op = "thumbnail"
size = 512
[[pipeline]]
op = "save"
format = "webp"
quality = 80
"""


def _job_file(folder: Path, text: str, name: str = "job.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_job_file(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_a_job_file_becomes_a_job_spec_with_paths_taken_from_its_directory(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "jobs"
    spec = load_job_file(_job_file(folder, GOOD))
    assert spec.name == "thumbs"
    assert spec.priority == "high"
    assert list(spec.inputs) == [
        str(folder / "photos"), str(folder / "more" / "*.png"), "/abs/one.jpg",
    ]
    assert spec.export_dir == folder / "out"
    assert spec.output_dir == folder / "out" / "images"
    assert list(spec.analyses) == ["rgb_histogram", "channel_stats"]
    assert list(spec.pipeline) == [
        {"op": "thumbnail", "size": 512},
        {"op": "save", "format": "webp", "quality": 80},
    ]
    order = spec.to_order(job_id="j", max_pixels=10**6)
    assert order.priority is Priority.HIGH
    assert [step.name for step in order.pipeline.steps] == ["thumbnail", "save"]


def test_a_minimal_job_file_needs_only_inputs_and_an_export_dir(tmp_path: Path) -> None:
    path = _job_file(tmp_path, '[job]\ninputs = ["a.png"]\n')
    spec = load_job_file(path, default_export_dir=tmp_path / "given")
    assert spec.export_dir == tmp_path / "given"
    assert spec.priority == "normal"
    assert spec.name is None
    assert list(spec.pipeline) == []
    assert list(spec.analyses) == []
    assert spec.cache is True


def test_cache_false_in_a_job_file_makes_its_job_work_every_item(tmp_path: Path) -> None:
    spec = load_job_file(_job_file(tmp_path, GOOD.replace("[job]\n", "[job]\ncache = false\n")))
    assert spec.cache is False
    assert spec.to_order(job_id="j", max_pixels=10**6).cache is False


def test_is_job_file_wants_a_regular_toml_file(tmp_path: Path) -> None:
    assert is_job_file(_job_file(tmp_path, GOOD))
    assert is_job_file(_job_file(tmp_path, GOOD, name="UPPER.TOML"))
    assert not is_job_file(_job_file(tmp_path, GOOD, name="job.txt"))
    assert not is_job_file(tmp_path / "missing.toml")
    (tmp_path / "folder.toml").mkdir()
    assert not is_job_file(tmp_path / "folder.toml")


def test_a_bad_step_names_the_file_the_step_and_the_parameter(tmp_path: Path) -> None:
    text = GOOD.replace('op = "save"\nformat = "webp"\nquality = 80',
                        'op = "resize"\nwidth = 0\nheight = 10')
    path = _job_file(tmp_path, text)
    assert _error(path) == (
        f"{path}: pipeline step 2 (resize): width: expected a positive integer, got 0"
    )


def test_an_unknown_analysis_is_named_with_a_did_you_mean(tmp_path: Path) -> None:
    path = _job_file(tmp_path, GOOD.replace('"channel_stats"', '"chanel_stats"'))
    assert _error(path).startswith(f"{path}: pipeline analysis 2 (chanel_stats): unknown")
    assert "did you mean 'channel_stats'?" in _error(path)


def test_an_unknown_job_key_is_named_with_a_did_you_mean(tmp_path: Path) -> None:
    path = _job_file(tmp_path, GOOD.replace("priority =", "prioity ="))
    assert _error(path) == f"{path}: job.prioity: unknown key (did you mean priority?)"


def test_an_unknown_table_is_named_with_a_did_you_mean(tmp_path: Path) -> None:
    path = _job_file(tmp_path, GOOD.replace("[[pipeline]]", "[[pipline]]"))
    assert _error(path) == f"{path}: pipline: unknown section (did you mean pipeline?)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('priority = "high"', 'priority = "hgih"',
         'job.priority: expected one of urgent, high, normal, low, got "hgih"'),
        ('inputs = ["photos/", "more/*.png", "/abs/one.jpg"]', 'inputs = "photos/"',
         'job.inputs: expected a non-empty list of files, directories or globs, got "photos/"'),
        ('inputs = ["photos/", "more/*.png", "/abs/one.jpg"]', "inputs = []",
         "job.inputs: expected a non-empty list of files, directories or globs, got []"),
        ('export_dir = "out"', "export_dir = 3",
         "job.export_dir: expected a non-empty string, got 3"),
        ('name = "thumbs"', "name = true", "job.name: expected a non-empty string, got true"),
        ('name = "thumbs"', 'cache = "no"', 'job.cache: expected true or false, got "no"'),
        ('analyses = ["rgb_histogram", "channel_stats"]', 'analyses = "luminance"',
         'job.analyses: expected a list of step names or tables, got "luminance"'),
    ],
)
def test_a_bad_job_value_is_named_by_key_value_and_expectation(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _job_file(tmp_path, GOOD.replace(old, new))
    assert _error(path) == f"{path}: {message}"


def test_a_pipeline_that_is_not_a_list_of_steps_is_named(tmp_path: Path) -> None:
    path = _job_file(tmp_path, 'pipeline = 5\n[job]\ninputs = ["a"]\nexport_dir = "o"\n')
    assert _error(path) == f"{path}: pipeline: expected a list of step names or tables, got 5"


def test_missing_inputs_and_export_dir_are_named(tmp_path: Path) -> None:
    path = _job_file(tmp_path, '[job]\nexport_dir = "out"\n')
    assert _error(path) == (
        f"{path}: job.inputs: missing; expected a list of files, directories or globs"
    )
    path = _job_file(tmp_path, '[job]\ninputs = ["a.png"]\n')
    assert _error(path) == (
        f"{path}: job.export_dir: missing, and no default export directory was given"
    )


def test_a_file_without_a_job_table_is_not_a_job_file(tmp_path: Path) -> None:
    path = _job_file(tmp_path, "config_version = 2\n[resources]\ncpu_slots = 2\n")
    assert _error(path) == f"{path}: resources: unknown section (known: job, pipeline)"
    path = _job_file(tmp_path, "config_version = 2\n")
    assert _error(path) == f"{path}: not a job file: it has no [job] table"


def test_a_newer_or_older_config_version_is_refused(tmp_path: Path) -> None:
    path = _job_file(tmp_path, GOOD.replace("config_version = 2", "config_version = 9"))
    assert "config_version: 9 is newer than this pixelmill reads" in _error(path)
    path = _job_file(tmp_path, GOOD.replace("config_version = 2", "config_version = 1"))
    assert _error(path) == (
        f"{path}: config_version: expected 2 (job files have no older version), got 1"
    )


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _job_file(tmp_path, '[job]\ninputs = ["a.png"\n')
    message = _error(path)
    assert message == f"{path}: invalid TOML: Unclosed array (at end of document, line 2)"


def test_a_missing_job_file_is_named(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.toml") == f"{tmp_path / 'nope.toml'}: no such file"


def test_an_output_dir_that_holds_an_input_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"")
    text = '[job]\ninputs = ["photos/a.png"]\nexport_dir = "out"\noutput_dir = "photos"\n'
    path = _job_file(tmp_path, text)
    assert _error(path).startswith(f"{path}: output_dir: {tmp_path / 'photos'} holds the input")
