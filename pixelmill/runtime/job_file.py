"""Job files: one batch job described in TOML, for `pixelmill run job.toml`.

```toml
config_version = 2                   # optional
[job]
name = "thumbs"
priority = "high"                    # urgent|high|normal|low
inputs = ["photos/", "more/*.png"]   # relative to the job file's directory
export_dir = "out"                   # likewise
output_dir = "out/images"            # optional; likewise
analyses = ["rgb_histogram", "channel_stats"]
formats = ["jpeg", "png", "heic"]    # optional; default: the config's [input] formats
[[pipeline]]
op = "thumbnail"
size = 512
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pixelmill.errors import ConfigError
from pixelmill.imaging.formats import check_formats
from pixelmill.imaging.pipeline import DEFAULT_MAX_PIXELS
from pixelmill.runtime.config_file import (
    _NAMES,
    _TEXT,
    CURRENT_VERSION,
    _Check,
    _choice,
    _resolved,
    _validated,
    _version,
    read_toml,
)
from pixelmill.runtime.spec import JobSpec

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["is_job_file", "load_job_file"]


# The checks are config_file's vocabulary: a job file is read as a config file is.
_INPUTS: _Check = (
    "a non-empty list of files, directories or globs",
    lambda v: isinstance(v, list) and bool(v) and all(isinstance(p, str) and p for p in v),
)
_STEPS: _Check = (
    "a list of step names or tables",
    lambda v: isinstance(v, list) and all(isinstance(step, str | Mapping) for step in v),
)
_SCHEMA: dict[str, Any] = {
    "job": {
        "name": _TEXT,
        "priority": _choice("urgent", "high", "normal", "low"),
        "inputs": _INPUTS,
        "export_dir": _TEXT,
        "output_dir": _TEXT,
        "analyses": _STEPS,
        "cache": ("true or false", lambda v: isinstance(v, bool)),
        "formats": _NAMES,
        "include_hidden": ("true or false", lambda v: isinstance(v, bool)),
    },
    "pipeline": _STEPS,
}


def is_job_file(path: Path) -> bool:
    """Whether `pixelmill run` should read `path` as a job file: a regular `.toml` file."""
    return path.suffix.lower() == ".toml" and path.is_file()


def load_job_file(
    path: Path,
    *,
    default_export_dir: Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> JobSpec:
    """The job a job file describes, checked as `Runtime.submit` would check it.

    Relative `inputs`, `export_dir` and `output_dir` are taken from the job
    file's directory. The steps are validated once here (by building the
    order), so that a bad file fails before any runtime starts.

    Args:
        path: The job file.
        default_export_dir: Used when the file has no `job.export_dir`.
        max_pixels: The pixel limit the steps are validated against.

    Raises:
        ConfigError: the message starts with the file's path and names the
            key or step, e.g. `job.toml: pipeline step 2 (resize): width:
            expected a positive integer, got 0`.
    """
    data = read_toml(path)
    try:
        return _job(data, path.absolute().parent, default_export_dir, max_pixels)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _job(
    data: Mapping[str, Any], base_dir: Path, default_export_dir: Path | None, max_pixels: int
) -> JobSpec:
    if "config_version" in data and _version(data) != CURRENT_VERSION:
        raise ConfigError(
            f"config_version: expected {CURRENT_VERSION} (job files have no older "
            f"version), got {data['config_version']}"
        )
    checked = _validated(
        {key: value for key, value in data.items() if key != "config_version"}, _SCHEMA, "", {}
    )
    if "job" not in checked:
        raise ConfigError("not a job file: it has no [job] table")
    job = checked["job"]
    if "inputs" not in job:
        raise ConfigError("job.inputs: missing; expected a list of files, directories or globs")
    if "export_dir" in job:
        export_dir = _resolved(job["export_dir"], base_dir)
    elif default_export_dir is not None:
        export_dir = default_export_dir
    else:
        raise ConfigError("job.export_dir: missing, and no default export directory was given")
    spec = JobSpec(
        inputs=[str(_resolved(text, base_dir)) for text in job["inputs"]],
        export_dir=export_dir,
        output_dir=_resolved(job["output_dir"], base_dir) if "output_dir" in job else None,
        pipeline=checked.get("pipeline", []),
        analyses=job.get("analyses", []),
        priority=job.get("priority", "normal"),
        name=job.get("name"),
        cache=job.get("cache", True),
        formats=check_formats(job["formats"], key="job.formats") if "formats" in job else None,
        include_hidden=job.get("include_hidden"),
    )
    spec.to_order(job_id="check", max_pixels=max_pixels)
    return spec
