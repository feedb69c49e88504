"""Steps as data: building, validating, normalising and naming what is wrong."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from pixelmill.errors import ConfigError
from pixelmill.imaging import ops
from pixelmill.imaging.steps import (
    AnalysisDef,
    OpDef,
    Param,
    Step,
    analysis_def,
    op_def,
    register_op,
    validate_step,
)


def test_from_data_builds_the_same_step_as_the_op_builder() -> None:
    assert Step.from_data({"op": "thumbnail", "size": 512}, kind="op") == ops.thumbnail(512)


def test_a_step_survives_pickling_unchanged() -> None:
    step = ops.save(format="webp", quality=70)
    assert pickle.loads(pickle.dumps(step)) == step


def test_validation_fills_defaults_and_coerces_safe_types() -> None:
    step = Step.from_data({"op": "thumbnail", "size": "300", "resample": "BICUBIC"}, kind="op")
    assert step.params == {"size": (300, 300), "resample": "bicubic"}


def test_a_thumbnail_accepts_a_width_height_pair() -> None:
    assert ops.thumbnail((320, 200)).params["size"] == (320, 200)


def test_an_analysis_can_be_given_as_a_plain_name_or_a_mapping() -> None:
    by_name = Step.from_data("luminance", kind="analysis")
    assert by_name == Step.from_data({"analysis": "luminance"}, kind="analysis")
    assert by_name == Step("luminance", {})


def test_to_data_round_trips_through_from_data() -> None:
    step = ops.thumbnail((320, 200), resample="box")
    data = step.to_data(kind="op")
    assert data == {"op": "thumbnail", "size": [320, 200], "resample": "box"}
    assert Step.from_data(data, kind="op") == step


def test_jpg_is_accepted_as_a_spelling_of_jpeg() -> None:
    assert ops.save(format="JPG").params["format"] == "jpeg"


def test_an_unknown_op_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError) as caught:
        Step.from_data({"op": "thumbnial", "size": 3}, kind="op")
    assert str(caught.value) == "unknown op 'thumbnial' (did you mean 'thumbnail'?)"


def test_an_unknown_analysis_suggests_the_closest_name() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown analysis 'lumnance' \(did you mean 'luminance'"
    ):
        Step.from_data("lumnance", kind="analysis")


def test_an_unknown_parameter_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r"thumbnail: unknown parameter 'szie' \(did you mean 'size'"
    ):
        Step.from_data({"op": "thumbnail", "szie": 3}, kind="op")


def test_a_missing_required_parameter_is_named() -> None:
    with pytest.raises(ConfigError, match="resize: height: missing"):
        Step.from_data({"op": "resize", "width": 3}, kind="op")


def test_data_without_the_name_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no 'op' key"):
        Step.from_data({"size": 3}, kind="op")


def test_the_size_message_names_step_parameter_value_and_expectation() -> None:
    with pytest.raises(ConfigError) as caught:
        ops.thumbnail(-3)
    assert str(caught.value) == "thumbnail: size: expected a positive integer, got -3"


BAD_PARAMETERS: list[tuple[dict[str, Any], str]] = [
    ({"op": "thumbnail", "size": 0}, "thumbnail: size: expected a positive integer, got 0"),
    ({"op": "thumbnail", "size": [3, 0]}, "thumbnail: size: expected a [width, height] pair"),
    ({"op": "thumbnail", "size": True}, "thumbnail: size: expected a positive integer, got True"),
    ({"op": "thumbnail", "size": 8, "resample": "cubic"}, "thumbnail: resample: expected one of"),
    (
        {"op": "resize", "width": 0, "height": 3},
        "resize: width: expected a positive integer, got 0",
    ),
    ({"op": "resize", "width": 3, "height": 2.5}, "resize: height: expected a positive integer"),
    (
        {"op": "crop", "left": -1, "top": 0, "right": 4, "bottom": 4},
        "crop: left: expected an integer >= 0",
    ),
    (
        {"op": "crop", "left": 5, "top": 0, "right": 4, "bottom": 4},
        "crop: right: expected more than left (5), got 4",
    ),
    (
        {"op": "crop", "left": 0, "top": 4, "right": 4, "bottom": 4},
        "crop: bottom: expected more than top (4), got 4",
    ),
    ({"op": "rotate", "degrees": "left"}, "rotate: degrees: expected a finite number, got 'left'"),
    ({"op": "rotate", "degrees": 90, "expand": "maybe"}, "rotate: expand: expected true or false"),
    (
        {"op": "grayscale", "mode": "L"},
        "grayscale: unknown parameter 'mode' (it takes no parameters)",
    ),
    (
        {"op": "autocontrast", "cutoff": 50},
        "autocontrast: cutoff: expected a number from 0 to below 50, got 50",
    ),
    ({"op": "blur", "radius": -1}, "blur: radius: expected a number >= 0, got -1"),
    ({"op": "blur", "radius": float("nan")}, "blur: radius: expected a number >= 0, got nan"),
    ({"op": "sharpen", "percent": -5}, "sharpen: percent: expected an integer >= 0, got -5"),
    (
        {"op": "sharpen", "threshold": 300},
        "sharpen: threshold: expected an integer from 0 to 255, got 300",
    ),
    (
        {"op": "convert", "mode": "XYZ"},
        "convert: mode: expected one of RGB, RGBA, L, LA, got 'XYZ'",
    ),
    ({"op": "save", "format": "gif"}, "save: format: expected one of jpeg, png, webp, got 'gif'"),
    ({"op": "save", "quality": 0}, "save: quality: expected an integer from 1 to 100, got 0"),
    ({"op": "save", "quality": 101}, "save: quality: expected an integer from 1 to 100, got 101"),
    ({"op": "save", "template": "{name}.{ext}"}, "save: template: expected a file name template"),
    (
        {"op": "save", "template": "../{stem}.{ext}"},
        "without path separators, got '../{stem}.{ext}'",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_PARAMETERS)
def test_each_bad_parameter_gives_a_config_error_naming_it(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Step.from_data(data, kind="op")
    assert message in str(caught.value)


def test_validate_step_can_name_the_step_by_its_position() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_step(Step("blur", {"radius": -1}), "op", where="pipeline step 3 (blur)")
    assert str(caught.value).startswith("pipeline step 3 (blur): radius: expected")


@pytest.mark.usefixtures("own_registry")
def test_a_registered_op_can_be_looked_up_and_validated() -> None:
    invert = OpDef(
        name="invert", apply=lambda image, params, ctx: image, params=(Param("x", int, 1),)
    )
    register_op(invert)
    assert op_def("invert") is invert
    assert Step.from_data({"op": "invert"}, kind="op") == Step("invert", {"x": 1})


@pytest.mark.usefixtures("own_registry")
def test_registering_a_taken_name_needs_replace() -> None:
    again = OpDef(name="blur", apply=lambda image, params, ctx: image)
    with pytest.raises(ConfigError, match="already registered"):
        register_op(again)
    assert register_op(again, replace=True) is op_def("blur")


def test_every_builtin_analysis_is_registered_with_columns() -> None:
    for name in ("rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata"):
        definition = analysis_def(name)
        assert isinstance(definition, AnalysisDef)
        assert isinstance(definition.columns({}), list)


def _one_value(image: Any, params: Any, ctx: Any) -> dict[str, Any]:
    return {"value": 0.5}


@pytest.mark.parametrize("given", ["columns", "flatten"])
def test_an_analysis_with_only_one_of_columns_and_flatten_is_refused(given: str) -> None:
    half: dict[str, Any] = {given: lambda value: value}
    with pytest.raises(ConfigError) as caught:
        AnalysisDef(name="half", measure=_one_value, **half)
    assert str(caught.value) == "analysis 'half': give columns and flatten together, or neither"


def test_a_one_value_analysis_writes_its_value_under_its_name() -> None:
    definition = AnalysisDef(name="brightness", measure=_one_value)
    assert definition.csv_columns({}) == ["brightness"]
    assert definition.csv_values({"value": 0.5}) == {"brightness": 0.5}


def test_a_one_value_analysis_refuses_a_result_of_another_size() -> None:
    definition = AnalysisDef(name="brightness", measure=_one_value)
    with pytest.raises(ValueError, match=r"^analysis 'brightness' returned 2 values; a one-value"):
        definition.csv_values({"mean": 0.5, "max": 1.0})
    with pytest.raises(ValueError, match="returned 0 values"):
        definition.csv_values({})
    with pytest.raises(ValueError, match="returned a float, not a dict"):
        definition.csv_values(0.5)  # type: ignore[arg-type]


def test_explicit_columns_and_flatten_are_used_as_given() -> None:
    definition = AnalysisDef(
        name="pair", measure=_one_value,
        columns=lambda params: ["low", "high"],
        flatten=lambda result: {"low": result["a"], "high": result["b"]},
    )
    assert definition.csv_columns({}) == ["low", "high"]
    assert definition.csv_values({"a": 1, "b": 2}) == {"low": 1, "high": 2}
