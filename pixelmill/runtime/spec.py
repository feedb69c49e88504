"""`JobSpec`: what a host asks for, validated into the JobManager's `JobOrder`."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelmill.errors import ConfigError
from pixelmill.imaging.formats import DEFAULT_FORMATS
from pixelmill.imaging.pipeline import Pipeline
from pixelmill.imaging.steps import Step, analysis_def, op_def
from pixelmill.messages import JobOrder, Priority

__all__ = ["JobSpec", "new_job_id"]

StepLike = Step | Mapping[str, Any] | str


def new_job_id() -> str:
    """A short, unique, sortable-enough id for a job."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One batch job: which images, what to do to them, what to measure, where to write.

    A step is `ops.thumbnail(512)` in Python or `{"op": "thumbnail", "size":
    512}` in data; an analysis is a name (`"luminance"`), `{"analysis":
    "luminance"}`, or a `Step`. Nothing is checked until `Runtime.submit`,
    which raises `ConfigError` naming the bad field, step or parameter.
    """

    inputs: Sequence[str | os.PathLike[str]]
    """Files, directories (walked recursively for image files) and globs."""
    export_dir: str | os.PathLike[str]
    """Where `results.csv`, `results.jsonl` and `summary.json` go."""
    pipeline: Sequence[StepLike] = ()
    analyses: Sequence[StepLike] = ()
    output_dir: str | os.PathLike[str] | None = None
    """Where `save` steps write; defaults to `export_dir`."""
    priority: Priority | str = Priority.NORMAL
    name: str | None = None
    charts: bool = False
    """Also draw each image's RGB histogram as a PNG under `export_dir/charts/`."""
    cache: bool = True
    """Reuse the results and outputs of earlier work on the same bytes with the same
    pipeline (the result cache); False works every item again."""
    formats: Sequence[str] | None = None
    """The image formats to read ("JPEG", "heic", ...); None: the Runtime's `formats`."""
    include_hidden: bool | None = None
    """Take hidden files (and walk hidden directories) in input directories; None: the
    Runtime's `include_hidden`. Left out, each is listed in `summary.json` as ignored."""

    def to_order(
        self,
        *,
        job_id: str,
        max_pixels: int,
        formats: Sequence[str] = DEFAULT_FORMATS,
        include_hidden: bool = False,
    ) -> JobOrder:
        """Validate everything and build the order the JobManager runs.

        `formats` and `include_hidden` are the Runtime's, used unless the spec
        has its own.
        """
        if isinstance(self.inputs, str | os.PathLike) or not self.inputs:
            raise ConfigError("inputs: expected a non-empty list of files, directories or globs")
        inputs = tuple(os.fspath(path) for path in self.inputs)
        hidden = include_hidden if self.include_hidden is None else self.include_hidden
        if not isinstance(hidden, bool):
            raise ConfigError(f"include_hidden: expected true or false, got {hidden!r}")
        for field_name in ("pipeline", "analyses"):
            if isinstance(getattr(self, field_name), str | Mapping):
                raise ConfigError(f"{field_name}: expected a list of steps")
        pipeline = Pipeline.validated(
            steps=self.pipeline, analyses=self.analyses, max_pixels=max_pixels,
            formats=formats if self.formats is None else self.formats,
        )
        export_dir = Path(self.export_dir).expanduser().absolute()
        saves = any(step.name == "save" for step in pipeline.steps)
        output_dir = (
            Path(self.output_dir).expanduser().absolute()
            if self.output_dir is not None
            else (export_dir if saves else None)
        )
        if output_dir is not None:
            _check_not_an_input_dir(output_dir, inputs)
        return JobOrder(
            job_id=job_id,
            name=self.name or f"job-{job_id}",
            inputs=inputs,
            pipeline=pipeline,
            output_dir=output_dir,
            export_dir=export_dir,
            priority=_priority(self.priority),
            exclude_dirs=tuple(d for d in (output_dir, export_dir) if d is not None),
            charts=self.charts,
            cache=bool(self.cache),
            plugins=plugins_of(pipeline),
            include_hidden=hidden,
        )


def plugins_of(pipeline: Pipeline) -> tuple[str, ...]:
    """Where a host's own ops and analyses are defined, so workers can load them too.

    Registration is per process: a worker imports each module (or, for a
    script, runs its top level as multiprocessing does for `__main__`) before
    its first item. So register ops at module level, not under
    `if __name__ == "__main__":`.
    """
    found: list[str] = []
    functions: list[Callable[..., object]] = [op_def(s.name).apply for s in pipeline.steps]
    functions += [analysis_def(s.name).measure for s in pipeline.analyses]
    for function in functions:
        module = getattr(function, "__module__", "") or ""
        if module.startswith("pixelmill.") or module == "pixelmill":
            continue
        if module in ("__main__", "__mp_main__"):
            main_file = getattr(sys.modules.get("__main__"), "__file__", None)
            module = f"file:{os.path.abspath(main_file)}" if main_file else ""
        if module and module not in found:
            found.append(module)
    return tuple(found)


def _priority(value: Priority | str) -> Priority:
    if isinstance(value, Priority):
        return value
    try:
        return Priority[str(value).upper()]
    except KeyError:
        names = ", ".join(p.name.lower() for p in Priority)
        raise ConfigError(f"priority: expected one of {names}, got {value!r}") from None


def _check_not_an_input_dir(output_dir: Path, inputs: Sequence[str]) -> None:
    """Outputs written beside their inputs could overwrite other inputs: refuse."""
    resolved = output_dir.resolve()
    for text in inputs:
        path = Path(text).expanduser()
        folder = path if path.is_dir() else path.parent
        if path.exists() and folder.resolve() == resolved:
            raise ConfigError(
                f"output_dir: {output_dir} holds the input {text}; "
                "choose an output directory apart from the inputs"
            )
