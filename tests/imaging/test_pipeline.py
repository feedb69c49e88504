"""The pipeline end to end: validation, drafting, outputs, results and error wrapping."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from PIL import Image

from pixelmill import errors
from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import (
    ItemResult,
    OutputTarget,
    Pipeline,
    estimate_memory_mb,
    run,
)
from pixelmill.imaging.safe_open import ImageHeader, probe
from pixelmill.imaging.steps import AnalysisDef, OpDef, Step, register_analysis, register_op
from pixelmill.testing.images import write_image, write_photo_like

ALL_ANALYSES = ["rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata"]


@pytest.fixture(scope="module", name="big_jpeg")
def _big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photo_like(tmp_path_factory.mktemp("in") / "big.jpg", (2048, 1536), seed=2)


def test_a_thumbnail_pipeline_with_draft_writes_the_expected_size(
    big_jpeg: Path, tmp_path: Path
) -> None:
    pipeline = Pipeline.validated(steps=[ops.thumbnail(256), ops.save()], analyses=ALL_ANALYSES)
    result = run(big_jpeg, pipeline, OutputTarget(output_dir=tmp_path, stem="big", rel_dir="a"))
    assert result.outputs == (str(tmp_path.resolve() / "a" / "big.jpg"),)
    with Image.open(result.outputs[0]) as saved:
        assert saved.size == (256, 192)
    assert (result.width, result.height) == (256, 192)
    assert result.source == {"format": "JPEG", "width": 2048, "height": 1536, "mode": "RGB"}
    assert sum(result.analyses["rgb_histogram"]["r"]) == 256 * 192
    assert 0 < result.decode_ms <= result.total_ms


def test_an_item_result_is_small_picklable_and_json_ready(big_jpeg: Path, tmp_path: Path) -> None:
    pipeline = Pipeline.validated(steps=[ops.thumbnail(64)], analyses=ALL_ANALYSES)
    result = run(big_jpeg, pipeline, OutputTarget(output_dir=None, stem="big"))
    assert pickle.loads(pickle.dumps(result)) == result
    assert len(pickle.dumps(result)) < 20_000
    json.dumps({"analyses": result.analyses, "source": result.source})


def test_a_crop_first_pipeline_decodes_at_full_size(big_jpeg: Path) -> None:
    pipeline = Pipeline.validated(steps=[ops.crop(1000, 1000, 1010, 1010), ops.thumbnail(5)])
    result = run(big_jpeg, pipeline, OutputTarget(output_dir=None, stem="big"))
    assert (result.width, result.height) == (5, 5)


def test_outputs_are_upright_and_carry_no_orientation_tag(tmp_path: Path) -> None:
    source = write_image(
        tmp_path / "o.jpg", size=(64, 48), exif_orientation=6, corner_color=(255, 0, 0)
    )
    pipeline = Pipeline.validated(
        steps=[ops.save(format=fmt, template="{stem}." + fmt) for fmt in ("jpeg", "png", "webp")]
    )
    (tmp_path / "out").mkdir()
    result = run(source, pipeline, OutputTarget(output_dir=tmp_path / "out", stem="o"))
    assert len(result.outputs) == 3
    for output in result.outputs:
        with Image.open(output) as saved:
            assert saved.size == (64, 48)
            assert saved.getexif().get(0x0112) is None


def test_each_save_records_the_image_as_it_was_then(tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.png", size=(40, 40))
    pipeline = Pipeline.validated(
        steps=[ops.save(template="{stem}_big.{ext}"), ops.resize(10, 10), ops.save(format="png")]
    )
    (tmp_path / "out").mkdir()
    result = run(source, pipeline, OutputTarget(output_dir=tmp_path / "out", stem="a"))
    sizes = []
    for output in result.outputs:
        with Image.open(output) as saved:
            sizes.append(saved.size)
    assert sizes == [(40, 40), (10, 10)]


def test_saving_with_no_output_dir_is_a_config_error(tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.png")
    with pytest.raises(errors.ConfigError, match="no output directory"):
        run(source, Pipeline.validated(steps=[ops.save()]), OutputTarget(output_dir=None, stem="a"))


def test_a_bad_input_raises_its_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_text("hello")
    with pytest.raises(errors.NotAnImageError):
        run(tmp_path / "a.jpg", Pipeline(), OutputTarget(output_dir=None, stem="a"))


@pytest.mark.usefixtures("own_registry")
def test_an_unexpected_op_failure_is_an_internal_error_naming_the_step(tmp_path: Path) -> None:

    def broken(image: Image.Image, params: object, ctx: object) -> Image.Image:
        return 1 / 0  # type: ignore[return-value]

    register_op(OpDef(name="broken", apply=broken))
    pipeline = Pipeline.validated(steps=[ops.blur(), Step("broken", {})])
    with pytest.raises(
        errors.InternalError, match=r"pipeline step 2 \(broken\) failed unexpectedly"
    ) as caught:
        run(write_image(tmp_path / "a.png"), pipeline, OutputTarget(output_dir=None, stem="a"))
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


@pytest.mark.usefixtures("own_registry")
def test_a_one_value_analysis_with_two_values_is_an_internal_error_naming_it(
    tmp_path: Path,
) -> None:

    def two_values(image: Image.Image, params: object, ctx: object) -> dict[str, float]:
        return {"mean": 0.5, "max": 1.0}

    register_analysis(AnalysisDef(name="brightness", measure=two_values))
    pipeline = Pipeline.validated(analyses=["brightness"])
    path = write_image(tmp_path / "a.png")
    with pytest.raises(errors.InternalError) as caught:
        run(path, pipeline, OutputTarget(output_dir=None, stem="a"))
    assert str(caught.value) == (
        f"{path}: analysis 'brightness' returned 2 values; a one-value analysis returns one,"
        " or give columns and flatten"
    )
    assert caught.value.reason == "internal.error"


def test_validation_names_the_position_of_a_bad_step() -> None:
    with pytest.raises(errors.ConfigError) as caught:
        Pipeline.validated(steps=[ops.thumbnail(5), {"op": "resize", "width": 0, "height": 3}])
    assert (
        str(caught.value) == "pipeline step 2 (resize): width: expected a positive integer, got 0"
    )


def test_validation_names_the_position_of_an_unknown_op() -> None:
    with pytest.raises(
        errors.ConfigError,
        match=r"pipeline step 1 \(thumbnial\): unknown op 'thumbnial' \(did you mean",
    ):
        Pipeline(steps=(Step("thumbnial", {"size": 3}),))


def test_an_analysis_listed_twice_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="'luminance' is listed twice"):
        Pipeline.validated(analyses=["luminance", {"analysis": "luminance"}])


def test_a_pipeline_normalises_hand_built_steps_once_when_made() -> None:
    pipeline = Pipeline(steps=(Step("thumbnail", {"size": 64}),))
    assert pipeline.steps == (ops.thumbnail(64),)
    assert pickle.loads(pickle.dumps(pipeline)) == pipeline
    assert Pipeline.from_data(pipeline.to_data()) == pipeline


def test_a_bad_pixel_limit_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="max_pixels"):
        Pipeline.validated(max_pixels=0)


def test_the_memory_estimate_covers_a_full_decode() -> None:
    header = ImageHeader(format="PNG", width=4000, height=3000, bands=3)
    mb = estimate_memory_mb(header, Pipeline.validated(steps=[ops.thumbnail(512)]))
    assert mb >= 2 * 4000 * 3000 * 4 // 2**20


def test_the_memory_estimate_allows_for_jpeg_draft() -> None:
    jpeg = ImageHeader(format="JPEG", width=4000, height=3000, bands=3)
    png = ImageHeader(format="PNG", width=4000, height=3000, bands=3)
    thumbnail = Pipeline.validated(steps=[ops.thumbnail(500)])
    assert estimate_memory_mb(jpeg, thumbnail) < estimate_memory_mb(png, thumbnail) / 2
    cropped = Pipeline.validated(steps=[ops.crop(0, 0, 10, 10), ops.thumbnail(500)])
    assert estimate_memory_mb(jpeg, cropped) == estimate_memory_mb(png, cropped)


def test_a_drafted_jpeg_is_estimated_below_a_full_decode(big_jpeg: Path) -> None:
    pipeline = Pipeline.validated(steps=[ops.thumbnail(256)], analyses=["sharpness"])
    header = probe(big_jpeg)
    undrafted = ImageHeader(format="PNG", width=header.width, height=header.height, bands=3)
    assert estimate_memory_mb(header, pipeline) < estimate_memory_mb(undrafted, pipeline)


def test_a_run_result_is_an_item_result(tmp_path: Path) -> None:
    result = run(
        write_image(tmp_path / "a.png"), Pipeline(), OutputTarget(output_dir=None, stem="a")
    )
    assert isinstance(result, ItemResult)
    assert (result.width, result.height, result.outputs, result.analyses) == (64, 48, (), {})
