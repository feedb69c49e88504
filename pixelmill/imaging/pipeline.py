"""Run one item through a pipeline: safe open, ops in order, analyses on the result."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixelmill.errors import ConfigError, InternalError, MemoryLimitError, PixelmillError
from pixelmill.imaging._builtin_ops import draft_request
from pixelmill.imaging._memory import estimate_decode_mp, estimate_memory_mb
from pixelmill.imaging._output_paths import OutputTarget
from pixelmill.imaging._stages import stage_clock
from pixelmill.imaging.formats import DEFAULT_FORMATS, check_formats
from pixelmill.imaging.safe_open import check_reduce, open_image
from pixelmill.imaging.steps import (
    AnalysisDef,
    ItemContext,
    Step,
    StepKind,
    analysis_def,
    op_def,
    parse_step,
    validate_step,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ItemResult",
    "OutputTarget",
    "Pipeline",
    "estimate_decode_mp",
    "estimate_memory_mb",
    "run",
]

DEFAULT_MAX_PIXELS = 178_956_970
"""Twice Pillow's `MAX_IMAGE_PIXELS`: the largest image Pillow will open at all."""

StepLike = Step | Mapping[str, Any] | str


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """What to do to every item of a job: ops in order, then analyses. Picklable.

    Validated once, when made: every step is checked and normalised (its
    parameters' defaults filled in), so the JobManager and the workers take
    it as it is. A pipeline crossing to a worker is unpickled, not made again.

    Raises:
        ConfigError: naming the position, e.g. `pipeline step 2 (resize):
            width: expected a positive integer, got 0`.
    """

    steps: tuple[Step, ...] = ()
    analyses: tuple[Step, ...] = ()
    """Run on the image after the ops; results are keyed by name, so each name once."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Inputs whose header has more pixels fail with `ImageTooLargeError`, undecoded."""
    formats: tuple[str, ...] = DEFAULT_FORMATS
    """The formats inputs may be in, by Pillow's names ("JPEG", "HEIF"), or file
    extensions ("jpg", "heic") when given; normalised by `formats.check_formats`.
    An input in another fails with `UnsupportedImageError`, undecoded."""

    def __post_init__(self) -> None:
        max_pixels = self.max_pixels
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ConfigError(f"max_pixels: expected a positive integer, got {max_pixels!r}")
        object.__setattr__(self, "formats", check_formats(self.formats))
        for name in ("steps", "analyses"):
            if isinstance(getattr(self, name), str | Step | Mapping):
                raise ConfigError(f"{name}: expected a list of steps, got {getattr(self, name)!r}")
        analyses = tuple(_checked(s, "analysis", n) for n, s in enumerate(self.analyses, 1))
        names = [step.name for step in analyses]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"analyses: {name!r} is listed twice")
        object.__setattr__(self, "analyses", analyses)
        object.__setattr__(
            self, "steps", tuple(_checked(step, "op", n) for n, step in enumerate(self.steps, 1))
        )

    @classmethod
    def validated(
        cls,
        *,
        steps: Iterable[StepLike] = (),
        analyses: Iterable[StepLike] = (),
        max_pixels: int = DEFAULT_MAX_PIXELS,
        formats: Iterable[str] = DEFAULT_FORMATS,
    ) -> Pipeline:
        """A pipeline from `Step`s or their config data (`{"op": "thumbnail", ...}`)."""
        for name, given in (("steps", steps), ("analyses", analyses)):
            if isinstance(given, str | Step | Mapping):
                raise ConfigError(f"{name}: expected a list of steps, got {given!r}")
        return cls(steps=tuple(steps), analyses=tuple(analyses),  # type: ignore[arg-type]
                   max_pixels=max_pixels, formats=check_formats(formats))

    def to_data(self) -> dict[str, Any]:
        """The pipeline as JSON-ready data; `from_data` makes it again."""
        return {
            "steps": [step.to_data(kind="op") for step in self.steps],
            "analyses": [step.to_data(kind="analysis") for step in self.analyses],
            "max_pixels": self.max_pixels,
            "formats": list(self.formats),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Pipeline:
        """The pipeline `to_data` gave, validated again (its ops must be registered).

        Data written before pipelines had `formats` reads the default list.
        """
        return cls.validated(
            steps=[Step.from_data(step, kind="op") for step in data["steps"]],
            analyses=[Step.from_data(step, kind="analysis") for step in data["analyses"]],
            max_pixels=data["max_pixels"],
            formats=data.get("formats", DEFAULT_FORMATS),
        )


def _checked(item: StepLike, kind: StepKind, position: int) -> Step:
    where = f"pipeline {'step' if kind == 'op' else 'analysis'} {position}"
    if isinstance(item, Step):
        step = item
    else:
        try:
            step = parse_step(item, kind=kind)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return validate_step(step, kind, where=f"{where} ({step.name})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemResult:
    """What one item produced: small, JSON-ready values only, so it crosses processes."""

    outputs: tuple[str, ...]
    """Paths written by `save` steps, in order."""
    analyses: dict[str, dict[str, Any]]
    """Analysis name -> its JSON-safe result."""
    source: dict[str, Any]
    """format, width, height (as stored) and mode (as decoded) of the input."""
    width: int
    """Of the final image, after all ops."""
    height: int
    decode_ms: float
    """Opening, decoding, orienting and mode conversion."""
    total_ms: float


def run(path: Path, pipeline: Pipeline, target: OutputTarget, *, reduce: int = 1) -> ItemResult:
    """Run `pipeline` on the image at `path`, writing its outputs under `target`.

    The image is opened with `open_image`, JPEG-drafted for a first op that is a
    `thumbnail` or `resize` (never before a `crop`, which needs full-size
    pixels); the ops run in order (`save` writes the image as it is at that
    point); the analyses run on the final image. Starts no thread and keeps no
    state, so several threads may run items at once.

    `reduce` (1, 2, 4 or 8) decodes the image at 1/`reduce` scale, to need
    less memory after a memory failure; see `open_image` for what it saves
    and how `max_pixels` then applies. The ops see the smaller image: a
    `crop` box is scaled down with it, a `thumbnail` or `resize` still gives
    its own size, any other op's output is 1/`reduce` of its full-scale size
    (blur and sharpen radii are not scaled). `source` still reports the size
    as stored.

    Raises:
        PixelmillError: only subclasses of it. An input's fault is an
            `InputError`; a `save` with no output directory, or a bad
            `reduce`, a `ConfigError`; running out of memory anywhere a
            `MemoryLimitError` (reason `resource.memory`); any other
            exception of an op or analysis becomes `InternalError` naming
            the step, with the original as `__cause__`, and so does a
            one-value analysis (no `flatten`) whose result is not one value.
    """
    with _classified(path, "pipeline"):
        return _run(path, pipeline, target, reduce)


def _run(path: Path, pipeline: Pipeline, target: OutputTarget, reduce: int) -> ItemResult:
    started = time.perf_counter()
    with _classified(path, "pipeline validation"):
        check_reduce(reduce)
    checked = pipeline
    draft_size, draft_fit = draft_request(checked.steps)
    with _classified(path, "decode"):
        opened = open_image(
            path,
            max_pixels=checked.max_pixels,
            formats=checked.formats,
            draft_size=draft_size,
            draft_fit=draft_fit,
            reduce=reduce,
        )
    decoded = time.perf_counter()
    image = opened.image
    ctx = ItemContext(
        path=path,
        source={
            "format": opened.format,
            "width": opened.source_size[0],
            "height": opened.source_size[1],
            "mode": opened.source_mode,
        },
        exif=opened.exif,
        icc_profile=image.info.get("icc_profile"),
        target=target,
        reduce=reduce,
    )
    # Only `image` may keep the decoded pixels alive: an op's input is freed
    # as soon as the op returns.
    del opened
    clock = stage_clock()
    for position, step in enumerate(checked.steps, 1):
        with _classified(path, f"pipeline step {position} ({step.name})"):
            image = op_def(step.name).apply(image, step.params, ctx)
        clock.lap(f"op:{step.name}")
    results: dict[str, dict[str, Any]] = {}
    for position, step in enumerate(checked.analyses, 1):
        definition = analysis_def(step.name)
        label = f"pipeline analysis {position} ({step.name})"
        with _classified(path, label):
            results[step.name] = definition.measure(image, step.params, ctx)
        _check_csv_values(path, label, definition, step.params, results[step.name])
        clock.lap(f"analysis:{step.name}")
    return ItemResult(
        outputs=tuple(ctx.outputs),
        analyses=results,
        source=ctx.source,
        width=image.width,
        height=image.height,
        decode_ms=(decoded - started) * 1000,
        total_ms=(time.perf_counter() - started) * 1000,
    )


def _check_csv_values(
    path: Path, label: str, definition: AnalysisDef, params: Mapping[str, Any], result: Any
) -> None:
    # Checked here, in the worker, so that the item fails with the reason:
    # later the Exporter, which flattens every result into the CSV's columns,
    # could not write its row.
    try:
        values = definition.csv_values(result)
    except ValueError as exc:
        raise InternalError(f"{path}: {exc}") from None
    except Exception as exc:
        raise InternalError(
            f"{path}: {label}: flatten failed: {type(exc).__name__}: {exc}"
        ) from exc
    undeclared = set(values) - set(definition.csv_columns(params))
    if undeclared:
        raise InternalError(
            f"{path}: {label}: flatten gave columns that columns() does not declare: "
            f"{', '.join(sorted(map(str, undeclared)))}"
        )


@contextmanager
def _classified(path: Path, label: str) -> Iterator[None]:
    try:
        yield
    except PixelmillError:
        raise
    except MemoryError as exc:
        raise MemoryLimitError(f"{path}: {label}: out of memory") from exc
    except Exception as exc:
        raise InternalError(
            f"{path}: {label} failed unexpectedly: {type(exc).__name__}: {exc}"
        ) from exc
