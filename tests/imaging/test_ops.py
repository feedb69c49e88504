"""What each built-in op does to an image, called directly through the registry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelmill.errors import UnsupportedImageError
from pixelmill.imaging import ops
from pixelmill.imaging.steps import ItemContext, Step, op_def

WHITE = (255, 255, 255)


def apply(step: Step, image: Image.Image, ctx: ItemContext) -> Image.Image:
    return op_def(step.name).apply(image, step.params, ctx)


def test_thumbnail_fits_the_box_keeping_the_aspect(ctx: ItemContext) -> None:
    result = apply(ops.thumbnail(100), Image.new("RGB", (400, 300)), ctx)
    assert result.size == (100, 75)


def test_thumbnail_fits_a_rectangular_box(ctx: ItemContext) -> None:
    result = apply(ops.thumbnail((100, 30)), Image.new("RGB", (400, 300)), ctx)
    assert result.size == (40, 30)


def test_thumbnail_never_enlarges(ctx: ItemContext) -> None:
    image = Image.new("RGB", (40, 30))
    assert apply(ops.thumbnail(100), image, ctx) is image


def test_thumbnail_does_not_mutate_its_input(ctx: ItemContext) -> None:
    image = Image.new("RGB", (400, 300))
    apply(ops.thumbnail(100), image, ctx)
    assert image.size == (400, 300)


def _alpha_photo(mode: str, *, opaque: bool) -> Image.Image:
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 256, (300, 400, len(mode)), dtype=np.uint8)
    levels[..., -1] = 255 if opaque else rng.integers(0, 256, (300, 400), dtype=np.uint8)
    return Image.fromarray(levels.squeeze(), mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
@pytest.mark.parametrize("opaque", [True, False], ids=["opaque", "translucent"])
def test_thumbnail_resamples_alpha_premultiplied_reducing_first(
    mode: str, opaque: bool, ctx: ItemContext
) -> None:
    image = _alpha_photo(mode, opaque=opaque)
    premultiplied = {"RGBA": "RGBa", "LA": "La"}[mode]
    # Pillow's own premultiplied resample, with the whole-factor reduce it
    # skips for alpha modes: the opaque shortcut must give the same pixels.
    expected = (
        image.convert(premultiplied)
        .resize((100, 75), Image.Resampling.LANCZOS, reducing_gap=2.0)
        .convert(mode)
    )
    result = apply(ops.thumbnail(100), image, ctx)
    assert result.mode == mode
    assert np.array_equal(np.asarray(result), np.asarray(expected))


def test_resize_gives_exactly_the_size_asked(ctx: ItemContext) -> None:
    assert apply(ops.resize(33, 77), Image.new("RGB", (400, 300)), ctx).size == (33, 77)


def test_crop_keeps_the_box(ctx: ItemContext) -> None:
    image = Image.new("RGB", (40, 30), WHITE)
    image.putpixel((10, 5), (1, 2, 3))
    result = apply(ops.crop(10, 5, 20, 25), image, ctx)
    assert result.size == (10, 20)
    assert result.getpixel((0, 0)) == (1, 2, 3)


def test_crop_is_clipped_to_the_image(ctx: ItemContext) -> None:
    assert apply(ops.crop(30, 20, 500, 500), Image.new("RGB", (40, 30)), ctx).size == (10, 10)


def test_a_crop_box_outside_the_image_is_an_unsupported_image(ctx: ItemContext) -> None:
    with pytest.raises(
        UnsupportedImageError, match=r"crop box \(50, 0, 60, 10\) lies outside the 40x30"
    ):
        apply(ops.crop(50, 0, 60, 10), Image.new("RGB", (40, 30)), ctx)


def test_rotate_turns_counter_clockwise_and_expands(ctx: ItemContext) -> None:
    image = Image.new("RGB", (40, 30), WHITE)
    image.putpixel((0, 0), (255, 0, 0))
    result = apply(ops.rotate(90), image, ctx)
    assert result.size == (30, 40)
    assert result.getpixel((0, 39)) == (255, 0, 0)


def test_rotate_without_expand_keeps_the_size(ctx: ItemContext) -> None:
    assert apply(ops.rotate(30, expand=False), Image.new("RGB", (40, 30)), ctx).size == (40, 30)


def test_grayscale_keeps_alpha(ctx: ItemContext) -> None:
    assert apply(ops.grayscale(), Image.new("RGBA", (4, 4)), ctx).mode == "LA"
    assert apply(ops.grayscale(), Image.new("RGB", (4, 4)), ctx).mode == "L"


def test_autocontrast_stretches_colour_and_leaves_alpha_alone(ctx: ItemContext) -> None:
    image = Image.new("RGBA", (2, 1), (100, 100, 100, 128))
    image.putpixel((1, 0), (150, 150, 150, 128))
    result = apply(ops.autocontrast(), image, ctx)
    assert result.getpixel((0, 0)) == (0, 0, 0, 128)
    assert result.getpixel((1, 0)) == (255, 255, 255, 128)


def test_blur_of_a_solid_colour_changes_nothing(ctx: ItemContext) -> None:
    result = apply(ops.blur(3), Image.new("RGB", (20, 20), (10, 20, 30)), ctx)
    assert result.getextrema() == ((10, 10), (20, 20), (30, 30))


def test_sharpen_raises_the_contrast_of_an_edge(ctx: ItemContext) -> None:
    image = Image.new("L", (20, 1), 100)
    image.paste(150, (10, 0, 20, 1))
    sharpened = np.asarray(apply(ops.sharpen(), image, ctx))
    assert sharpened.min() < 100
    assert sharpened.max() > 150


def test_convert_to_rgb_composites_alpha_onto_white(ctx: ItemContext) -> None:
    result = apply(ops.convert("RGB"), Image.new("RGBA", (4, 4), (255, 0, 0, 0)), ctx)
    assert result.mode == "RGB"
    assert result.getpixel((0, 0)) == WHITE


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize(
    "step",
    [
        ops.thumbnail(8),
        ops.resize(5, 7),
        ops.crop(1, 1, 9, 9),
        ops.rotate(33),
        ops.grayscale(),
        ops.autocontrast(2),
        ops.blur(),
        ops.sharpen(),
        ops.convert("RGB"),
        ops.convert("LA"),
    ],
    ids=lambda step: f"{step.name}-{next(iter(step.params.values()), '')}",
)
def test_every_op_works_in_every_working_mode(step: Step, mode: str, ctx: ItemContext) -> None:
    result = apply(step, Image.new(mode, (16, 12)), ctx)
    assert result.mode in ("L", "LA", "RGB", "RGBA")
