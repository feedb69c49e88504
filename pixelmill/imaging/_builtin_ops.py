"""The built-in ops' implementations, registered at import; `ops` builds their steps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from pixelmill.errors import ConfigError, UnsupportedImageError
from pixelmill.imaging._modes import flatten, has_alpha
from pixelmill.imaging._params import Param, boolean, choice, integer, number, size_pair
from pixelmill.imaging.save import SAVE_FORMATS, save_image
from pixelmill.imaging.steps import ItemContext, OpDef, Step, register_op

__all__ = ["BUILTIN_OPS", "RESAMPLE", "draft_request", "reduced_box"]

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
"""Resampling filters by the name a step gives them."""

_RESAMPLE = Param("resample", choice(*RESAMPLE), "lanczos")
# Reduce by whole factors only down to at least twice the size (a box
# average, cheap), then resample the rest (2x to 4x) with the filter, as
# Pillow's own `thumbnail` does (`reducing_gap=2.0`); a JPEG is drafted (DCT
# scaled, itself a box average) to at least twice the size too (`draft_request`).
# A box reduce all the way down to the size, or a draft to it, is 2-5x faster
# but 0.6-1.1 levels (mean absolute error) off a LANCZOS from full size on
# photo-like images: tests/imaging/test_quality.py bounds it on whole-factor
# shrinks of 2, 3, 5 and 8 and DCT scales 1/2, 1/4 and 1/8.
_REDUCING_GAP = 2.0
# Pillow resamples alpha modes premultiplied, but then skips `reducing_gap`.
_PREMULTIPLIED = {"LA": "La", "RGBA": "RGBa"}
_WITHOUT_ALPHA = {"LA": "L", "RGBA": "RGB"}

Params = Mapping[str, Any]


def _thumbnail(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    box_width, box_height = params["size"]
    if image.width <= box_width and image.height <= box_height:
        return image
    scale = min(box_width / image.width, box_height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return _shrunk(image, size, RESAMPLE[params["resample"]])


def _shrunk(image: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    """`image.resize(size, resample, reducing_gap=_REDUCING_GAP)`, reducing alpha modes too."""
    premultiplied = _PREMULTIPLIED.get(image.mode)
    if premultiplied is None or resample == Image.Resampling.NEAREST:
        return image.resize(size, resample, reducing_gap=_REDUCING_GAP)
    if _opaque(image):
        # Premultiplying by 255 changes nothing: the colour bands alone give the
        # same pixels, and are cheaper to convert and to resample.
        colour = image.convert(_WITHOUT_ALPHA[image.mode])
        return colour.resize(size, resample, reducing_gap=_REDUCING_GAP).convert(image.mode)
    # What Image.resize does for LA and RGBA, but with the whole-factor reduce.
    shrunk = image.convert(premultiplied).resize(size, resample, reducing_gap=_REDUCING_GAP)
    return shrunk.convert(image.mode)


def _opaque(image: Image.Image) -> bool:
    """Whether every pixel's alpha is 255 (many RGBA files carry an unused alpha band)."""
    return image.getchannel("A").histogram()[255] == image.width * image.height


def _resize(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    size = (params["width"], params["height"])
    return image if image.size == size else image.resize(size, RESAMPLE[params["resample"]])


def _crop(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    # In a reduced decode the box shrinks too, rounded outwards: the same region.
    left, top, right, bottom = reduced_box(params, ctx.reduce)
    left, top = min(left, image.width), min(top, image.height)
    right, bottom = min(right, image.width), min(bottom, image.height)
    if right <= left or bottom <= top:
        box = tuple(params[key] for key in ("left", "top", "right", "bottom"))
        raise UnsupportedImageError(
            f"{ctx.path}: crop box {box} lies outside the {image.width}x{image.height} image"
        )
    return image.crop((left, top, right, bottom))


def reduced_box(params: Params, reduce: int) -> tuple[int, int, int, int]:
    """A `crop` step's box in the pixels of an image decoded at 1/`reduce` scale."""
    return (
        params["left"] // reduce,
        params["top"] // reduce,
        math.ceil(params["right"] / reduce),
        math.ceil(params["bottom"] / reduce),
    )


def _check_crop(params: Params) -> None:
    for low, high in (("left", "right"), ("top", "bottom")):
        if params[high] <= params[low]:
            raise ValueError(
                f"{high}: expected more than {low} ({params[low]}), got {params[high]}"
            )


def _rotate(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    # Pillow turns multiples of 90 degrees into exact transposes itself.
    return image.rotate(
        params["degrees"], resample=Image.Resampling.BICUBIC, expand=params["expand"]
    )


def _grayscale(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    mode = "LA" if has_alpha(image) else "L"
    return image if image.mode == mode else image.convert(mode)


def _autocontrast(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    if not has_alpha(image):
        return ImageOps.autocontrast(image, cutoff=params["cutoff"])
    # Pillow refuses alpha modes; stretching alpha would be wrong anyway.
    *colour, alpha = image.split()
    base = "L" if len(colour) == 1 else "RGB"
    stretched = ImageOps.autocontrast(Image.merge(base, colour), cutoff=params["cutoff"])
    return Image.merge(image.mode, (*stretched.split(), alpha))


def _blur(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(params["radius"]))


def _sharpen(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    mask = ImageFilter.UnsharpMask(params["radius"], params["percent"], params["threshold"])
    return image.filter(mask)


def _convert(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    mode = params["mode"]
    if mode in ("L", "RGB"):
        image = flatten(image)
    return image if image.mode == mode else image.convert(mode)


def _save(image: Image.Image, params: Params, ctx: ItemContext) -> Image.Image:
    if ctx.target is None:
        raise ConfigError("save: this run has no output directory to save into")
    written = save_image(
        image,
        source=ctx.path,
        target=ctx.target,
        format=params["format"],
        quality=params["quality"],
        template=params["template"],
        icc_profile=ctx.icc_profile,
    )
    ctx.outputs.append(str(written))
    return image


def draft_request(steps: Sequence[Step]) -> tuple[tuple[int, int] | None, bool]:
    """The `draft_size` and `draft_fit` for `open_image` that `steps` allow.

    The box is twice the step's size: a JPEG decodes at the smallest DCT
    scale that leaves at least that much, as Pillow's `thumbnail` drafts.
    Only a first `thumbnail` (fit its box) or `resize` (cover its size) lets a
    JPEG decode smaller; anything else first, a `crop` above all, needs every
    pixel. Expects validated steps.
    """
    first = steps[0] if steps else None
    if first is not None and first.name == "thumbnail":
        width, height = first.params["size"]
        return _gapped(width, height), True
    if first is not None and first.name == "resize":
        return _gapped(first.params["width"], first.params["height"]), False
    return None, False


def _gapped(width: int, height: int) -> tuple[int, int]:
    """A draft box of at least `_REDUCING_GAP` times the size: LANCZOS does the rest."""
    return (math.ceil(width * _REDUCING_GAP), math.ceil(height * _REDUCING_GAP))


def _template(value: Any) -> str:
    expected = "expected a file name template using only {stem} and {ext}"
    if not isinstance(value, str):
        raise ValueError(expected)
    try:
        name = value.format(stem="stem", ext="ext")
    except (KeyError, IndexError, ValueError):
        raise ValueError(expected) from None
    if not name or name in (".", "..") or any(ch in name for ch in "/\\\x00"):
        raise ValueError(expected + ", without path separators")
    return value


BUILTIN_OPS = (
    OpDef(name="thumbnail", apply=_thumbnail, params=(Param("size", size_pair), _RESAMPLE)),
    OpDef(
        name="resize",
        apply=_resize,
        params=(Param("width", integer()), Param("height", integer()), _RESAMPLE),
    ),
    OpDef(
        name="crop",
        apply=_crop,
        params=tuple(Param(key, integer(0)) for key in ("left", "top", "right", "bottom")),
        check=_check_crop,
    ),
    OpDef(
        name="rotate",
        apply=_rotate,
        params=(Param("degrees", number()), Param("expand", boolean, True)),
    ),
    OpDef(name="grayscale", apply=_grayscale),
    OpDef(
        name="autocontrast",
        apply=_autocontrast,
        params=(Param("cutoff", number(0, 50, below_high=True), 0.0),),
    ),
    OpDef(name="blur", apply=_blur, params=(Param("radius", number(0), 2.0),)),
    OpDef(
        name="sharpen",
        apply=_sharpen,
        params=(
            Param("percent", integer(0), 150),
            Param("radius", number(0), 2.0),
            Param("threshold", integer(0, 255), 3),
        ),
    ),
    OpDef(
        name="convert", apply=_convert, params=(Param("mode", choice("RGB", "RGBA", "L", "LA")),)
    ),
    OpDef(
        name="save",
        apply=_save,
        params=(
            Param("format", choice(*SAVE_FORMATS, aliases={"jpg": "jpeg"}), "jpeg"),
            Param("quality", integer(1, 100), 85),
            Param("template", _template, "{stem}.{ext}"),
        ),
    ),
)
"""The ops every pixelmill process knows."""

for _definition in BUILTIN_OPS:
    register_op(_definition)
