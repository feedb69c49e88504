"""Steps (ops and analyses with their parameters) and the registry that runs them."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from PIL import Image

from pixelmill.errors import ConfigError
from pixelmill.imaging._params import REQUIRED, Param

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.imaging._output_paths import OutputTarget

__all__ = [
    "AnalysisDef",
    "Apply",
    "ItemContext",
    "Measure",
    "OpDef",
    "Scalar",
    "Step",
    "StepKind",
    "analysis_def",
    "op_def",
    "op_names",
    "parse_step",
    "register_analysis",
    "register_op",
    "validate_step",
]

_T = TypeVar("_T")
StepKind: TypeAlias = Literal["op", "analysis"]
Scalar: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Step:
    """One op or analysis with its parameters: plain data, picklable, JSON-ready.

    Frozen, but `params` is a dict, so a `Step` compares by value and is not
    hashable. Build one with `Step.from_data`, the builders in `ops`, or
    `validate_step`, so that its parameters are normalised and comparable.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | str, *, kind: StepKind) -> Step:
        """Build a validated step from config data.

        Args:
            data: `{"op": "thumbnail", "size": 512}` for an op, `{"analysis":
                "luminance"}` or just `"luminance"` for an analysis; the other
                keys are the parameters.
            kind: `"op"` or `"analysis"`; it names the key that holds the name.

        Raises:
            ConfigError: the name or a parameter is unknown or invalid.
        """
        return validate_step(parse_step(data, kind=kind), kind)

    def to_data(self, *, kind: StepKind) -> dict[str, Any]:
        """The inverse of `from_data`: a JSON-ready mapping (tuples become lists)."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {kind: self.name, **params}


def parse_step(data: Mapping[str, Any] | str, *, kind: StepKind) -> Step:
    """Build a step from config data as `Step.from_data` does, but without validating it.

    Raises:
        ConfigError: the data has no name under the `kind` key.
    """
    if isinstance(data, str) and kind == "analysis":
        return Step(data, {})
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping with an {kind!r} key, got {data!r}")
    if kind not in data:
        raise ConfigError(f"{kind} step has no {kind!r} key: {dict(data)!r}")
    name = data[kind]
    if not isinstance(name, str):
        raise ConfigError(f"{kind} name: expected a string, got {name!r}")
    return Step(name, {key: value for key, value in data.items() if key != kind})


@dataclass(slots=True, kw_only=True)
class ItemContext:
    """What a step may know of its item beyond the pixels; one per item and run."""

    path: Path
    """The input file."""
    source: dict[str, Any]
    """The source as decoded: format, width, height, mode (see `safe_open`)."""
    exif: dict[str, Any] = field(default_factory=dict)
    """EXIF basics of the source, JSON-safe."""
    icc_profile: bytes | None = None
    """The source's embedded ICC profile, carried into outputs where it fits."""
    target: OutputTarget | None = None
    """Where `save` writes; `None` when the run writes nothing."""
    reduce: int = 1
    """The image was decoded at 1/`reduce` scale: an op whose parameters are
    source pixels (`crop`) divides them by it."""
    outputs: list[str] = field(default_factory=list)
    """Paths written so far, appended by the ops that write."""
    memo: dict[str, tuple[Image.Image, Any]] = field(default_factory=dict, repr=False)
    """Small values derived from an image, by name, with the image they came
    from: see `derived`."""

    def derived(self, name: str, image: Image.Image, compute: Callable[[Image.Image], _T]) -> _T:
        """`compute(image)`, computed once per item for this very image object.

        For analyses that share a measurement (two of them need the same
        histograms): steps never mutate an image, so what was derived from
        it stays true while it is the same object. Keep values small: the
        entry holds them, and the image, until the item ends.
        """
        entry = self.memo.get(name)
        if entry is not None and entry[0] is image:
            value: _T = entry[1]
            return value
        value = compute(image)
        self.memo[name] = (image, value)
        return value


Apply: TypeAlias = Callable[[Image.Image, Mapping[str, Any], ItemContext], Image.Image]
"""An op: returns a new image (or the same one unchanged); never mutates its input."""
Measure: TypeAlias = Callable[[Image.Image, Mapping[str, Any], ItemContext], dict[str, Any]]
"""An analysis: returns a JSON-safe dict; never mutates the image."""
Check: TypeAlias = Callable[[Mapping[str, Any]], None]
"""Cross-parameter check on normalised params; raises `ValueError("param: ...")`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpDef:
    """An op: its name, its parameters and the function that applies it."""

    name: str
    apply: Apply
    params: tuple[Param, ...] = ()
    check: Check | None = None
    version: str | None = None
    """Change it when the op's results change: the result cache keeps what the
    old version made apart. None: a hash of `apply`'s code (enough unless the
    op calls code of its own that changes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisDef:
    """An analysis: its function and how its result becomes one flat CSV row.

    Give `columns` and `flatten` together, or neither: without them the
    analysis is a one-value analysis, whose result holds exactly one value,
    written to the CSV column named after the analysis.

    Raises:
        ConfigError: only one of `columns` and `flatten` is given.
    """

    name: str
    measure: Measure
    columns: Callable[[Mapping[str, Any]], list[str]] | None = None
    """The CSV columns for given params; fixed before the first row is written."""
    flatten: Callable[[Mapping[str, Any]], dict[str, Scalar]] | None = None
    """A result as scalars keyed by `columns`; histograms stay in the full record."""
    params: tuple[Param, ...] = ()
    check: Check | None = None
    version: str | None = None
    """As `OpDef.version`, for `measure`."""

    def __post_init__(self) -> None:
        if (self.columns is None) != (self.flatten is None):
            raise ConfigError(
                f"analysis {self.name!r}: give columns and flatten together, or neither"
            )

    def csv_columns(self, params: Mapping[str, Any]) -> list[str]:
        """The CSV columns for `params`: `columns(params)`, else the analysis's name."""
        if self.columns is None:
            return [self.name]
        return self.columns(params)

    def csv_values(self, result: Mapping[str, Any]) -> dict[str, Scalar]:
        """A result as CSV values: `flatten(result)`, else its only value under the name.

        Raises:
            ValueError: `flatten` is not given and `result` is not a dict of
                exactly one value; the message names the analysis.
        """
        if self.flatten is not None:
            return self.flatten(result)
        if not isinstance(result, Mapping):
            raise ValueError(
                f"analysis {self.name!r} returned a {type(result).__name__}, not a dict"
            )
        if len(result) != 1:
            raise ValueError(
                f"analysis {self.name!r} returned {len(result)} values; a one-value"
                " analysis returns one, or give columns and flatten"
            )
        (value,) = result.values()
        return {self.name: value}


_Def = TypeVar("_Def", OpDef, AnalysisDef)
_OPS: dict[str, OpDef] = {}
_ANALYSES: dict[str, AnalysisDef] = {}


def register_op(definition: OpDef, *, replace: bool = False) -> OpDef:
    """Make an op available by name to configs, pipelines and workers.

    Registration is per process: a host that adds ops must register them in
    worker processes too (at import of the module that defines them).

    Raises:
        ConfigError: the name is taken and `replace` is false.
    """
    _register(_OPS, definition, "op", replace=replace)
    return definition


def register_analysis(definition: AnalysisDef, *, replace: bool = False) -> AnalysisDef:
    """Make an analysis available by name; see `register_op`."""
    _register(_ANALYSES, definition, "analysis", replace=replace)
    return definition


def _register(
    table: dict[str, Any], definition: OpDef | AnalysisDef, kind: str, *, replace: bool
) -> None:
    if definition.name in table and not replace:
        raise ConfigError(f"{kind} {definition.name!r} is already registered")
    table[definition.name] = definition


def op_names() -> list[str]:
    """The registered ops, sorted."""
    return sorted(_OPS)


def op_def(name: str) -> OpDef:
    """The registered op called `name`; a `ConfigError` suggests the closest name."""
    return _lookup(_OPS, name, "op")


def analysis_def(name: str) -> AnalysisDef:
    """The registered analysis called `name`; a `ConfigError` suggests the closest name."""
    return _lookup(_ANALYSES, name, "analysis")


def _lookup(table: Mapping[str, _Def], name: str, kind: str) -> _Def:
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown {kind} {name!r}{_suggest(name, table)}") from None


def _suggest(name: str, known: Mapping[str, Any] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(sorted(known))})"


def validate_step(step: Step, kind: StepKind, *, where: str | None = None) -> Step:
    """Return `step` with its parameters normalised: defaults filled, types coerced.

    Args:
        step: The step as written in a config or built by a host.
        kind: `"op"` or `"analysis"`.
        where: How messages name the step; the step's own name by default
            (a pipeline says `pipeline step 2 (resize)`).

    Raises:
        ConfigError: the message names the step, the parameter, the bad value
            and what was expected, e.g. `thumbnail: size: expected a positive
            integer, got -3`, or `unknown op 'thumbnial' (did you mean
            'thumbnail'?)`.
    """
    if kind not in ("op", "analysis"):
        raise ConfigError(f"step kind: expected 'op' or 'analysis', got {kind!r}")
    table: Mapping[str, OpDef | AnalysisDef] = _OPS if kind == "op" else _ANALYSES
    if not isinstance(step.name, str) or step.name not in table:
        message = f"unknown {kind} {step.name!r}{_suggest(str(step.name), table)}"
        raise ConfigError(f"{where}: {message}" if where else message)
    definition = table[step.name]
    label = where or step.name
    if not isinstance(step.params, Mapping):
        raise ConfigError(f"{label}: params: expected a mapping, got {step.params!r}")
    params = _normalised(step.params, definition.params, label)
    if definition.check is not None:
        try:
            definition.check(params)
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    return Step(step.name, params)


def _normalised(given: Mapping[str, Any], specs: tuple[Param, ...], label: str) -> dict[str, Any]:
    known = {param.name: param for param in specs}
    for key in given:
        if key not in known:
            hint = _suggest(str(key), list(known)) if known else " (it takes no parameters)"
            raise ConfigError(f"{label}: unknown parameter {key!r}{hint}")
    params: dict[str, Any] = {}
    for name, param in known.items():
        if name not in given:
            if param.default is REQUIRED:
                raise ConfigError(f"{label}: {name}: missing, and it has no default")
            params[name] = param.default
            continue
        try:
            params[name] = param.coerce(given[name])
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{label}: {name}: {exc}, got {given[name]!r}") from None
    return params
