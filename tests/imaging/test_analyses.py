"""The analyses measure exactly, and flatten into the CSV columns they announce."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pixelmill.imaging import analyses
from pixelmill.imaging.safe_open import open_image
from pixelmill.imaging.steps import AnalysisDef, ItemContext
from pixelmill.testing.images import gradient_mean, write_gradient, write_photo_like


def measure(definition: AnalysisDef, image: Image.Image, ctx: ItemContext) -> dict[str, Any]:
    return definition.measure(image, {}, ctx)


def test_histogram_sums_equal_the_pixel_count(ctx: ItemContext, tmp_path: Path) -> None:
    image = open_image(
        write_photo_like(tmp_path / "p.png", (97, 41), seed=3), max_pixels=10**6
    ).image
    result = measure(analyses.rgb_histogram, image, ctx)
    assert sorted(result) == ["b", "g", "r"]
    for counts in result.values():
        assert len(counts) == 256
        assert sum(counts) == 97 * 41


def test_a_solid_colour_has_exact_stats_and_no_spread(ctx: ItemContext) -> None:
    result = measure(analyses.channel_stats, Image.new("RGB", (64, 48), (200, 30, 7)), ctx)
    assert result["r"] == {"mean": 200.0, "std": 0.0, "min": 200, "max": 200}
    assert result["g"] == {"mean": 30.0, "std": 0.0, "min": 30, "max": 30}
    assert result["b"] == {"mean": 7.0, "std": 0.0, "min": 7, "max": 7}


def test_a_gradient_has_its_known_mean(ctx: ItemContext, tmp_path: Path) -> None:
    image = open_image(write_gradient(tmp_path / "g.png", (256, 10)), max_pixels=10**6).image
    result = measure(analyses.channel_stats, image, ctx)
    assert gradient_mean(256) == 127.5
    for channel in "rgb":
        assert result[channel]["mean"] == 127.5
        assert (result[channel]["min"], result[channel]["max"]) == (0, 255)
        assert result[channel]["std"] == pytest.approx(math.sqrt((256**2 - 1) / 12))


def test_stats_agree_with_numpy_on_a_photo(ctx: ItemContext, tmp_path: Path) -> None:
    image = open_image(
        write_photo_like(tmp_path / "p.png", (80, 60), seed=5), max_pixels=10**6
    ).image
    pixels = np.asarray(image).reshape(-1, 3).astype(np.float64)
    result = measure(analyses.channel_stats, image, ctx)
    for index, channel in enumerate("rgb"):
        assert result[channel]["mean"] == pytest.approx(pixels[:, index].mean(), abs=1e-9)
        assert result[channel]["std"] == pytest.approx(pixels[:, index].std(), abs=1e-9)
        assert result[channel]["max"] == pixels[:, index].max()


def test_a_grey_image_counts_as_equal_channels(ctx: ItemContext) -> None:
    result = measure(analyses.channel_stats, Image.new("L", (5, 5), 90), ctx)
    assert (
        result["r"]
        == result["g"]
        == result["b"]
        == {"mean": 90.0, "std": 0.0, "min": 90, "max": 90}
    )


def test_transparent_pixels_are_measured_as_white(ctx: ItemContext) -> None:
    result = measure(analyses.channel_stats, Image.new("RGBA", (5, 5), (0, 0, 0, 0)), ctx)
    assert result["r"]["mean"] == 255.0


def test_luminance_has_a_mean_and_a_full_histogram(ctx: ItemContext) -> None:
    result = measure(analyses.luminance, Image.new("RGB", (10, 10), (255, 255, 255)), ctx)
    assert result["mean"] == 255.0
    assert len(result["histogram"]) == 256
    assert result["histogram"][255] == 100


def test_sharpness_of_a_solid_colour_is_zero_and_of_detail_is_positive(ctx: ItemContext) -> None:
    assert measure(analyses.sharpness, Image.new("RGB", (30, 30), (9, 9, 9)), ctx) == {
        "laplacian_variance": 0.0
    }
    checker = Image.fromarray((np.indices((30, 30)).sum(axis=0) % 2 * 255).astype(np.uint8))
    assert measure(analyses.sharpness, checker, ctx)["laplacian_variance"] > 1000


def test_sharpness_drops_when_an_image_is_blurred(ctx: ItemContext, tmp_path: Path) -> None:
    from PIL import ImageFilter

    image = open_image(
        write_photo_like(tmp_path / "p.png", (80, 60), seed=5), max_pixels=10**6
    ).image
    blurred = image.filter(ImageFilter.GaussianBlur(3))
    sharp = measure(analyses.sharpness, image, ctx)["laplacian_variance"]
    assert measure(analyses.sharpness, blurred, ctx)["laplacian_variance"] < sharp / 4


@pytest.mark.parametrize("band_pixels", [50, 1 << 20])
def test_sharpness_is_the_exact_laplacian_variance_whatever_the_bands(
    band_pixels: int, ctx: ItemContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analyses, "_SHARPNESS_BAND_PIXELS", band_pixels)
    path = write_photo_like(tmp_path / "p.png", (83, 61), seed=9)
    image = open_image(path, max_pixels=10**6).image
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    laplacian = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    )
    result = measure(analyses.sharpness, image, ctx)["laplacian_variance"]
    assert result == pytest.approx(laplacian.var(), rel=1e-12)


def test_metadata_describes_the_source_not_the_final_image(ctx: ItemContext) -> None:
    ctx.exif = {"make": "Acme", "orientation": 6}
    result = measure(analyses.metadata, Image.new("RGB", (4, 4)), ctx)
    assert result == {
        "format": "PNG",
        "width": 64,
        "height": 48,
        "mode": "RGB",
        "make": "Acme",
        "orientation": 6,
    }


@pytest.mark.parametrize(
    "definition",
    [
        analyses.rgb_histogram,
        analyses.channel_stats,
        analyses.luminance,
        analyses.sharpness,
        analyses.metadata,
    ],
    ids=lambda definition: definition.name,
)
def test_results_are_json_safe_and_flatten_to_their_columns(
    definition: AnalysisDef, ctx: ItemContext
) -> None:
    result = measure(definition, Image.new("RGB", (8, 8), (1, 2, 3)), ctx)
    assert json.loads(json.dumps(result)) == result
    row = definition.flatten(result)
    assert list(row) == definition.columns({})
    assert all(value is None or isinstance(value, str | int | float) for value in row.values())


def test_channel_stats_columns_are_per_channel() -> None:
    assert analyses.channel_stats.columns({})[:5] == ["r_mean", "r_std", "r_min", "r_max", "g_mean"]


def test_histograms_are_kept_out_of_the_csv_row(ctx: ItemContext) -> None:
    assert analyses.rgb_histogram.columns({}) == []
    assert list(
        analyses.luminance.flatten(measure(analyses.luminance, Image.new("L", (2, 2)), ctx))
    ) == ["luminance_mean"]
