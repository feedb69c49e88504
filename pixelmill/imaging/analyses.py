"""The built-in analyses: histograms, channel statistics, luminance, sharpness, metadata.

Each is an `AnalysisDef`, registered at import under its own name. Analyses
measure the image as it is *after* the pipeline's ops (a thumbnail's
statistics, not the original's), except `metadata`, which describes the
source file. Alpha is composited onto white first, as a JPEG output shows it;
a grey image counts as r = g = b. Statistics come from Pillow's exact
256-bin histograms, without a float copy of the image; `sharpness` works on
the grey image in bands of rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from PIL import Image

from pixelmill.imaging._modes import flatten
from pixelmill.imaging.steps import (
    AnalysisDef,
    ItemContext,
    Measure,
    Scalar,
    register_analysis,
)

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where an analysis first runs (in a worker), not with the
# registry: a host that only submits jobs, or takes them from the result
# cache, does not pay for it.

__all__ = ["channel_stats", "luminance", "metadata", "rgb_histogram", "sharpness"]

_CHANNELS = ("r", "g", "b")
_STATS = ("mean", "std", "min", "max")
_SHARPNESS_BAND_PIXELS = 1 << 20
_SOURCE_KEYS = ("format", "width", "height", "mode")
_EXIF_KEYS = (
    "make",
    "model",
    "datetime_original",
    "orientation",
    "iso",
    "exposure_time",
    "f_number",
    "focal_length",
)
Params = Mapping[str, Any]


def _channel_histograms(image: Image.Image) -> tuple[list[int], list[int], list[int]]:
    flat = flatten(image)
    if flat.mode == "L":
        grey = flat.histogram()
        return grey, grey, grey
    counts = (flat if flat.mode == "RGB" else flat.convert("RGB")).histogram()
    return counts[:256], counts[256:512], counts[512:768]


def _grey(image: Image.Image) -> Image.Image:
    flat = flatten(image)
    return flat if flat.mode == "L" else flat.convert("L")


@functools.cache
def _levels() -> np.ndarray:
    import numpy as np

    return np.arange(256, dtype=np.float64)


def _histogram_stats(counts: list[int]) -> dict[str, float | int]:
    import numpy as np

    weights = np.asarray(counts, dtype=np.float64)
    total = weights.sum()
    levels = _levels()
    mean = float(weights @ levels / total)
    # Two-pass variance: exact 0 for a solid colour, no cancellation.
    variance = float(weights @ (levels - mean) ** 2 / total)
    present = np.flatnonzero(weights)
    return {
        "mean": mean,
        "std": math.sqrt(variance),
        "min": int(present[0]),
        "max": int(present[-1]),
    }


def _rgb_histogram(image: Image.Image, params: Params, ctx: ItemContext) -> dict[str, Any]:
    histograms = ctx.derived("channel_histograms", image, _channel_histograms)
    return dict(zip(_CHANNELS, (list(counts) for counts in histograms), strict=True))


def _channel_stats(image: Image.Image, params: Params, ctx: ItemContext) -> dict[str, Any]:
    histograms = ctx.derived("channel_histograms", image, _channel_histograms)
    return {
        name: _histogram_stats(counts) for name, counts in zip(_CHANNELS, histograms, strict=True)
    }


def _flatten_channel_stats(result: Mapping[str, Any]) -> dict[str, Scalar]:
    return {f"{c}_{s}": result[c][s] for c in _CHANNELS for s in _STATS}


def _luminance(image: Image.Image, params: Params, ctx: ItemContext) -> dict[str, Any]:
    counts = _grey(image).histogram()
    return {"mean": _histogram_stats(counts)["mean"], "histogram": counts}


def _sharpness(image: Image.Image, params: Params, ctx: ItemContext) -> dict[str, Any]:
    import numpy as np

    grey = np.asarray(_grey(image))
    height, width = grey.shape
    if height < 3 or width < 3:
        return {"laplacian_variance": 0.0}
    # The Laplacian of 8-bit levels is a small integer: summed in integers by
    # bands of rows, the variance is exact and the scratch memory bounded
    # (about 24 MiB), however large the image.
    total = total_squares = 0
    rows = max(1, _SHARPNESS_BAND_PIXELS // width)
    for top in range(1, height - 1, rows):
        band = grey[top - 1 : min(top + rows, height - 1) + 1].astype(np.int32)
        centre = band[1:-1, 1:-1]
        laplacian = band[:-2, 1:-1] + band[2:, 1:-1] + band[1:-1, :-2] + band[1:-1, 2:]
        laplacian -= 4 * centre
        total += int(laplacian.sum(dtype=np.int64))
        total_squares += int(np.square(laplacian, dtype=np.int64).sum())
    count = (height - 2) * (width - 2)
    mean = total / count
    return {"laplacian_variance": total_squares / count - mean * mean}


def _metadata(image: Image.Image, params: Params, ctx: ItemContext) -> dict[str, Any]:
    return {**ctx.source, **ctx.exif}


def _flatten_metadata(result: Mapping[str, Any]) -> dict[str, Scalar]:
    row: dict[str, Scalar] = {f"source_{key}": result.get(key) for key in _SOURCE_KEYS}
    row |= {f"exif_{key}": result.get(key) for key in _EXIF_KEYS}
    return row


def _builtin(
    name: str,
    measure: Measure,
    columns: list[str],
    flatten: Callable[[Mapping[str, Any]], dict[str, Scalar]],
) -> AnalysisDef:
    return register_analysis(
        AnalysisDef(
            name=name, measure=measure, columns=lambda params: list(columns), flatten=flatten
        )
    )


def _single(column: str, key: str) -> Callable[[Mapping[str, Any]], dict[str, Scalar]]:
    return lambda result: {column: result[key]}


rgb_histogram = _builtin("rgb_histogram", _rgb_histogram, [], lambda result: {})
"""256 counts per channel: `{"r": [...], "g": [...], "b": [...]}`; no CSV columns."""

channel_stats = _builtin(
    "channel_stats",
    _channel_stats,
    [f"{c}_{s}" for c in _CHANNELS for s in _STATS],
    _flatten_channel_stats,
)
"""Mean, population std, min and max per channel: `{"r": {"mean": ...}, ...}`."""

luminance = _builtin("luminance", _luminance, ["luminance_mean"], _single("luminance_mean", "mean"))
"""Mean grey level (ITU-R 601-2 luma) and its 256-bin histogram."""

sharpness = _builtin(
    "sharpness", _sharpness, ["sharpness"], _single("sharpness", "laplacian_variance")
)
"""Variance of the 4-neighbour Laplacian of the grey image; higher is sharper.

It depends on the image size, so compare it between images of one size (after
the same thumbnail, say), not across sizes.
"""

metadata = _builtin(
    "metadata",
    _metadata,
    [f"source_{k}" for k in _SOURCE_KEYS] + [f"exif_{k}" for k in _EXIF_KEYS],
    _flatten_metadata,
)
"""The source file: format, width and height as stored, mode as decoded, and
the EXIF basics present (make, model, datetime_original, orientation, iso,
exposure_time in seconds, f_number, focal_length in mm)."""
