"""An upper estimate of one item's peak memory, from its header and pipeline alone."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pixelmill.imaging._builtin_ops import draft_request, reduced_box
from pixelmill.imaging.safe_open import DRAFT_FORMATS, check_reduce, draft_scale

if TYPE_CHECKING:
    from pixelmill.imaging.pipeline import Pipeline
    from pixelmill.imaging.safe_open import ImageHeader
    from pixelmill.imaging.steps import Step

__all__ = ["estimate_decode_mp", "estimate_memory_mb"]

# Pillow stores RGB as 4 bytes a pixel (RGBX), like RGBA, CMYK, I and F; grey
# and palette inputs may become RGB(A) on the way. So 4 whatever the bands.
_BYTES_PER_PIXEL = 4
# open_image frees each stage (decoded, upright, working mode) as it makes the
# next, so two full copies at most are alive at once.
_DECODE_COPIES = 2
# libjpeg keeps a progressive JPEG's coefficients, 2 bytes a sample of the
# full-size image (fewer with chroma subsampling), until the last scan.
_COEFFICIENT_BYTES = 2
# Bytes a final pixel costs during analysis on top of the image: a flattened
# or grey copy (4), plus the grey levels as a numpy array for sharpness (1).
_ANALYSIS_BYTES = {"sharpness": 5}
_DEFAULT_ANALYSIS_BYTES = _BYTES_PER_PIXEL
# Encoder and decoder buffers, sharpness's bands of rows (~24 MiB): scratch
# that does not grow with the image.
_OVERHEAD_MB = 40
_MIB = 1 << 20


def estimate_memory_mb(
    header: ImageHeader, pipeline: Pipeline, *, reduce: int = 1
) -> int:
    """An upper estimate of the MiB one item needs at its peak, to size its lease.

    The image is followed through the pipeline by size only: decoded (scaled
    down as `open_image` drafts a JPEG for a first `thumbnail` or `resize`,
    either orientation), with up to two full copies alive while decoding;
    then each op's input and output together; then the final image with the
    costliest analysis's copy. Every image counts 4 bytes a pixel, plus 40 MiB
    of scratch that does not grow with the image (codec buffers, sharpness).
    Ops this module does not know (a host's) are assumed to keep the size.
    Python's and the libraries' own baseline is not included: this is what
    the item adds. Checked against the shared corpus: within 1.1-2x of the
    measured peak.

    With `reduce` (as `run` takes it), a JPEG is decoded at 1/`reduce` scale
    or smaller, so every term shrinks but one: a progressive JPEG's
    coefficients (2 bytes a sample), which libjpeg holds at full size while
    decoding at any scale. Any other format still decodes at full size (two
    full copies at the peak, as the reduced copy or a mode conversion is
    made), and only what follows shrinks.

    Raises:
        ConfigError: `reduce` is not 1, 2, 4 or 8.
    """
    check_reduce(reduce)
    full = (header.width, header.height)
    if header.format in DRAFT_FORMATS:
        scale = max(reduce, _draft_scale(header, pipeline.steps))
        size = (math.ceil(full[0] / scale), math.ceil(full[1] / scale))
        peak = _DECODE_COPIES * _area(size) * _BYTES_PER_PIXEL
        if header.progressive:
            peak += _area(full) * header.bands * _COEFFICIENT_BYTES
    else:
        size = (math.ceil(full[0] / reduce), math.ceil(full[1] / reduce))
        peak = _DECODE_COPIES * _area(full) * _BYTES_PER_PIXEL
    for step in pipeline.steps:
        after = _size_after(step, size, reduce)
        peak = max(peak, (_area(size) + _area(after)) * _BYTES_PER_PIXEL)
        size = after
    scratch = max(
        (_ANALYSIS_BYTES.get(step.name, _DEFAULT_ANALYSIS_BYTES) for step in pipeline.analyses),
        default=0,
    )
    peak = max(peak, _area(size) * (_BYTES_PER_PIXEL + scratch))
    return math.ceil(peak / _MIB) + _OVERHEAD_MB


def estimate_decode_mp(header: ImageHeader, pipeline: Pipeline) -> float:
    """The megapixels one item's decode works through: its relative CPU cost.

    A baseline JPEG decodes at its draft scale, a progressive one
    entropy-decodes every coefficient at full size, any other format decodes
    in full. Plus about one megapixel's worth that every item pays (open,
    resize, encode, analyses), this is within about 2x of the measured time
    on the shared corpus: enough to run the costliest first, and to tell
    small items.
    """
    full = _area((header.width, header.height))
    if header.format in DRAFT_FORMATS and not header.progressive:
        decoded = full / _draft_scale(header, pipeline.steps) ** 2
    else:
        decoded = full
    return decoded / 1e6


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]


def _draft_scale(header: ImageHeader, steps: tuple[Step, ...]) -> int:
    box, fit = draft_request(steps)
    if header.format not in DRAFT_FORMATS or box is None:
        return 1
    source = (header.width, header.height)
    # EXIF orientation is unknown here; the smaller scale is the safe bound.
    return min(draft_scale(source, box, fit=fit), draft_scale(source, box[::-1], fit=fit))


def _size_after(step: Step, size: tuple[int, int], reduce: int) -> tuple[int, int]:
    width, height = size
    params = step.params
    if step.name == "thumbnail":
        box_width, box_height = params["size"]
        factor = min(1.0, box_width / width, box_height / height)
        return (max(1, round(width * factor)), max(1, round(height * factor)))
    if step.name == "resize":
        return (params["width"], params["height"])
    if step.name == "crop":
        left, top, right, bottom = reduced_box(params, reduce)
        cropped_width = min(right, width) - min(left, width)
        cropped_height = min(bottom, height) - min(top, height)
        return (max(1, cropped_width), max(1, cropped_height))
    if step.name == "rotate" and params["expand"]:
        angle = math.radians(params["degrees"])
        cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
        return (
            math.ceil(width * cos + height * sin) + 1,
            math.ceil(width * sin + height * cos) + 1,
        )
    return size
