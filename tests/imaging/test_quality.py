"""Output quality: pixelmill's fast thumbnail path against plain Pillow's, on photo-sized images.

pixelmill decodes a JPEG at a reduced DCT scale (to the thumbnail size, not
twice it), shrinks other formats by a whole-factor box reduce before LANCZOS,
and turns the image upright after the shrink. The plain reference decodes at
full size: open -> exif_transpose -> convert RGB -> thumbnail(1024, LANCZOS).
These tests bound how far pixelmill's output may drift from that reference,
as a mean absolute error (MAE) in 8-bit levels over every pixel and channel.

Measured on these images (Pillow 13.0, libjpeg-turbo 3.2, 3000x2000):

- before any encoding (pixelmill saving a lossless PNG): MAE 0.42-0.44 for
  the JPEGs, 0.49-0.50 for the PNGs, 0.56 for an RGBA PNG of hard-edged clear columns; bound 0.75;
- final JPEG q85 against the reference's own JPEG q85: 0.67-0.81; bound 1.25;
- the JPEG q85 encoding alone moves the reference by 1.76-2.01, and
  pixelmill's JPEG output is as far from the full-quality thumbnail as plain
  Pillow's own output, within 0.02 (checked with a 0.25 margin);
- channel means within 0.13 and standard deviations within 0.07 levels of
  the reference's (bound 0.5).

For scale, on the same PNG: a plain box-filter shrink gives 0.86, a JPEG
drafted below the target and scaled back up 1.18, NEAREST 3.1; they fail.
Grain-heavy synthetic images are forgiving of the filter (bilinear 0.43):
these bounds catch drift, a wrong size or orientation, a too-small draft
and alpha bleeding, not a change of filter between similar ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run
from pixelmill.testing.images import photo_like, write_photo_like

BOX = 1024
SIZE = (3000, 2000)
QUALITY = 85
LOSSLESS_MAE_BOUND = 0.75
"""pixelmill's thumbnail, saved losslessly, against the reference thumbnail."""
OUTPUT_MAE_BOUND = 1.25
"""pixelmill's JPEG q85 output against the reference's JPEG q85 output."""
ENCODING_MARGIN = 0.25
"""How much further than the reference's own JPEG pixelmill's may be from the ideal."""
STATS_BOUND = 0.5
"""Channel mean and std, in levels, against those of the reference thumbnail."""
ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Case:
    name: str
    suffix: str
    seed: int
    orientation: int | None = None


CASES = [
    Case("jpeg", ".jpg", 1),
    Case("png", ".png", 2),
    Case("jpeg-rotated", ".jpg", 3, orientation=6),
    Case("png-portrait", ".png", 4),
]


def _write(case: Case, directory: Path) -> Path:
    path = directory / f"{case.name}{case.suffix}"
    size = SIZE[::-1] if case.name == "png-portrait" else SIZE
    if case.suffix == ".png":
        # write_photo_like's pixels; the fastest zlib level halves the set-up time.
        photo_like(size, case.seed).save(path, compress_level=1)
    elif case.orientation is None:
        write_photo_like(path, size, seed=case.seed)
    else:
        # Stored as a camera would: pixels rotated, EXIF saying how to undo it.
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = case.orientation
        stored = photo_like(SIZE, case.seed).transpose(Image.Transpose.ROTATE_90)
        stored.save(path, quality=90, exif=exif.tobytes())
    return path


def _reference(path: Path) -> Image.Image:
    """The plain Pillow pipeline of bench/throughput.py, up to the thumbnail."""
    with Image.open(path) as source:
        image = (ImageOps.exif_transpose(source) or source).convert("RGB")
    image.thumbnail((BOX, BOX), Image.Resampling.LANCZOS)
    return image


def _mae(actual: Image.Image, expected: Image.Image) -> float:
    assert actual.size == expected.size
    difference = np.asarray(actual, dtype=np.int16) - np.asarray(expected, dtype=np.int16)
    return float(np.abs(difference).mean())


def _jpeg_roundtrip(image: Image.Image, path: Path) -> Image.Image:
    image.save(path, "JPEG", quality=QUALITY)
    with Image.open(path) as saved:
        return saved.convert("RGB")


def _pixelmill(path: Path, out: Path, fmt: str) -> tuple[Image.Image, dict[str, dict[str, float]]]:
    pipeline = Pipeline.validated(
        steps=[ops.thumbnail(BOX), ops.save(format=fmt, quality=QUALITY)],
        analyses=["channel_stats"],
    )
    result = run(path, pipeline, OutputTarget(output_dir=out, stem=f"{path.stem}-{fmt}"))
    with Image.open(result.outputs[0]) as written:
        assert (written.width, written.height) == (result.width, result.height)
        return _on_white(written), result.analyses["channel_stats"]


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image.convert("RGB")
    white = Image.new("RGB", image.size, (255, 255, 255))
    white.paste(image.convert("RGB"), mask=image.getchannel("A"))
    return white


@pytest.fixture(scope="module", name="inputs")
def _inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("quality")
    return {case.name: _write(case, directory) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_thumbnail_is_within_the_bound_of_a_full_size_lanczos(
    case: Case, inputs: dict[str, Path], tmp_path: Path
) -> None:
    reference = _reference(inputs[case.name])
    thumbnail, stats = _pixelmill(inputs[case.name], tmp_path, "png")
    assert thumbnail.size == reference.size
    assert _mae(thumbnail, reference) < LOSSLESS_MAE_BOUND
    levels = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    for index, channel in enumerate("rgb"):
        assert stats[channel]["mean"] == pytest.approx(levels[:, index].mean(), abs=STATS_BOUND)
        assert stats[channel]["std"] == pytest.approx(levels[:, index].std(), abs=STATS_BOUND)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_jpeg_output_is_as_close_to_the_ideal_as_plain_pillows(
    case: Case, inputs: dict[str, Path], tmp_path: Path
) -> None:
    reference = _reference(inputs[case.name])
    reference_output = _jpeg_roundtrip(reference, tmp_path / "reference.jpg")
    output, _ = _pixelmill(inputs[case.name], tmp_path, "jpeg")
    assert output.size == reference.size
    assert _mae(output, reference_output) < OUTPUT_MAE_BOUND
    assert _mae(output, reference) < _mae(reference_output, reference) + ENCODING_MARGIN


def test_transparency_is_resampled_premultiplied_and_flattened_onto_white(
    tmp_path: Path,
) -> None:
    # Alpha fading from opaque at the top to clear at the bottom, cut by
    # 16-pixel columns of clear magenta: resampled without premultiplying,
    # the magenta would bleed into the visible pixels (MAE 3.5 here).
    pixels = np.asarray(photo_like(SIZE, seed=5)).copy()
    alpha = np.repeat(np.linspace(255, 0, SIZE[1]).astype(np.uint8)[:, None], SIZE[0], axis=1)
    clear = (np.arange(SIZE[0]) // 16) % 2 == 0
    alpha[:, clear] = 0
    pixels[:, clear] = (255, 0, 255)
    source = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
    path = tmp_path / "alpha.png"
    source.save(path, compress_level=1)
    # Pillow's own thumbnail resamples RGBA premultiplied, from full size.
    reference = source.copy()
    reference.thumbnail((BOX, BOX), Image.Resampling.LANCZOS)
    thumbnail, _ = _pixelmill(path, tmp_path, "png")
    assert thumbnail.size == reference.size
    assert _mae(thumbnail, _on_white(reference)) < LOSSLESS_MAE_BOUND
