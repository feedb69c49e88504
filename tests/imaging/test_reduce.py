"""Degraded runs: `reduce` decodes smaller, and running out of memory is `MemoryLimitError`."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pixelmill import errors
from pixelmill.imaging import ops, safe_open
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, estimate_memory_mb, run
from pixelmill.imaging.safe_open import ImageHeader, open_image, probe
from pixelmill.imaging.steps import AnalysisDef, OpDef, Step, register_analysis, register_op
from pixelmill.testing.images import write_image, write_photo_like

BIG = 10**8
RED, BLUE = (255, 0, 0), (0, 0, 255)
NOWHERE = OutputTarget(output_dir=None, stem="a")


def test_reduce_halves_the_output_of_a_pipeline_without_a_resize(tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.png", size=(101, 60), color=BLUE, corner_color=RED)
    pipeline = Pipeline.validated(steps=[ops.save(format="png")])
    (tmp_path / "out").mkdir()
    target = OutputTarget(output_dir=tmp_path / "out", stem="a")
    result = run(source, pipeline, target, reduce=2)
    assert (result.width, result.height) == (51, 30)
    assert (result.source["width"], result.source["height"]) == (101, 60)
    with Image.open(result.outputs[0]) as saved:
        assert saved.size == (51, 30)
        assert saved.convert("RGB").getpixel((5, 3)) == RED


@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_a_jpeg_is_decoded_smaller_by_libjpeg_not_reduced_after(
    reduce: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_photo_like(tmp_path / "p.jpg", (640, 480), seed=3)

    def full_decode(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("decoded at full size, then reduced")

    monkeypatch.setattr(Image.Image, "reduce", full_decode)
    opened = open_image(path, max_pixels=BIG, reduce=reduce)
    assert opened.image.size == (640 // reduce, 480 // reduce)
    assert opened.source_size == (640, 480)


def test_reduce_and_a_thumbnail_draft_take_the_smaller_decode(tmp_path: Path) -> None:
    path = write_photo_like(tmp_path / "p.jpg", (1024, 768), seed=3)
    fitted = open_image(path, max_pixels=BIG, draft_size=(128, 128), draft_fit=True, reduce=2)
    assert fitted.image.size == (128, 96)
    assert open_image(path, max_pixels=BIG, reduce=8).image.size == (128, 96)


@pytest.mark.parametrize(
    ("mode", "fmt", "color", "corner"),
    [
        ("RGB", "PNG", BLUE, RED),
        ("RGBA", "PNG", (0, 0, 255, 255), (255, 0, 0, 255)),
        ("P", "GIF", 1, 0),
        ("1", "PNG", 1, 0),
        ("I;16", "PNG", 65535, 0),
        ("F", "TIFF", 1.0, 0.0),
        ("CMYK", "TIFF", (255, 255, 0, 0), (0, 255, 255, 0)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_every_mode_is_reduced_right_after_decoding(
    mode: str, fmt: str, color: Any, corner: Any, tmp_path: Path
) -> None:
    path = write_image(tmp_path / "a.img", (101, 60), color, fmt, mode, corner_color=corner)
    opened = open_image(path, max_pixels=BIG, reduce=2)
    assert opened.image.size == (51, 30)
    assert opened.image.mode in ("L", "LA", "RGB", "RGBA")
    expected = np.asarray(open_image(path, max_pixels=BIG).image.convert("RGB"))[6, 10]
    assert tuple(np.asarray(opened.image.convert("RGB"))[3, 5]) == tuple(expected)


def test_orientation_is_applied_to_the_reduced_image(tmp_path: Path) -> None:
    path = write_image(
        tmp_path / "o.jpg", size=(192, 128), color=BLUE, exif_orientation=6, corner_color=RED
    )
    opened = open_image(path, max_pixels=BIG, reduce=4)
    assert opened.image.size == (48, 32)
    assert np.allclose(np.asarray(opened.image)[4, 6], RED, atol=16)


def test_a_crop_box_is_scaled_with_the_reduced_image(tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.png", size=(200, 96), color=BLUE, corner_color=RED)
    pipeline = Pipeline.validated(steps=[ops.crop(0, 0, 50, 24)], analyses=["channel_stats"])
    result = run(source, pipeline, NOWHERE, reduce=2)
    assert (result.width, result.height) == (25, 12)
    assert result.analyses["channel_stats"]["r"]["min"] == 255


def test_the_pixel_limit_applies_to_the_reduced_decode_of_a_jpeg_only(tmp_path: Path) -> None:
    jpeg = write_photo_like(tmp_path / "p.jpg", (640, 480), seed=3)
    png = write_image(tmp_path / "p.png", (640, 480))
    limit = 640 * 480 // 4
    with pytest.raises(errors.ImageTooLargeError, match="307,200 pixels"):
        open_image(jpeg, max_pixels=limit)
    assert open_image(jpeg, max_pixels=limit, reduce=2).image.size == (320, 240)
    with pytest.raises(errors.ImageTooLargeError, match="307,200 pixels"):
        open_image(png, max_pixels=limit, reduce=2)


@pytest.mark.parametrize("reduce", [0, 3, 16, True, 2.0])
def test_reduce_must_be_1_2_4_or_8(reduce: Any, tmp_path: Path) -> None:
    source = write_image(tmp_path / "a.png")
    header = ImageHeader(format="PNG", width=64, height=48, bands=3)
    with pytest.raises(errors.ConfigError, match="reduce: expected 1, 2, 4 or 8"):
        run(source, Pipeline(), NOWHERE, reduce=reduce)
    with pytest.raises(errors.ConfigError, match="reduce"):
        open_image(source, max_pixels=BIG, reduce=reduce)
    with pytest.raises(errors.ConfigError, match="reduce"):
        estimate_memory_mb(header, Pipeline(), reduce=reduce)


def test_the_memory_estimate_of_a_jpeg_shrinks_with_the_square_of_reduce() -> None:
    header = ImageHeader(format="JPEG", width=16_000, height=12_000, bands=3)
    pipeline = Pipeline.validated(analyses=["sharpness"])
    full = estimate_memory_mb(header, pipeline)
    assert estimate_memory_mb(header, pipeline, reduce=2) < full * 0.3
    assert estimate_memory_mb(header, pipeline, reduce=8) < full * 0.05


def test_a_progressive_jpeg_is_estimated_with_its_full_size_coefficients(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.jpg"
    Image.new("RGB", (400, 300)).save(path, progressive=True)
    assert probe(path).progressive
    baseline = ImageHeader(format="JPEG", width=16_000, height=12_000, bands=3)
    progressive = dataclasses.replace(baseline, progressive=True)
    coefficients_mb = 16_000 * 12_000 * 3 * 2 // 2**20
    thumbnail = Pipeline.validated(steps=[ops.thumbnail(256)])
    for reduce in (1, 8):
        extra = estimate_memory_mb(progressive, thumbnail, reduce=reduce) - estimate_memory_mb(
            baseline, thumbnail, reduce=reduce
        )
        assert extra >= coefficients_mb


def test_the_memory_estimate_of_other_formats_keeps_the_full_decode() -> None:
    header = ImageHeader(format="PNG", width=16_000, height=12_000, bands=3)
    pipeline = Pipeline.validated(analyses=["sharpness"])
    full_decode_mb = 2 * 16_000 * 12_000 * 4 // 2**20
    reduced = estimate_memory_mb(header, pipeline, reduce=2)
    assert full_decode_mb <= reduced < estimate_memory_mb(header, pipeline)


def _out_of_memory(*args: object) -> Any:
    raise MemoryError


@pytest.mark.usefixtures("own_registry")
@pytest.mark.parametrize("where", ["decode", "op", "analysis"])
def test_running_out_of_memory_anywhere_is_a_memory_limit_error(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_op(OpDef(name="greedy", apply=_out_of_memory))
    register_analysis(
        AnalysisDef(
            name="greedy", measure=_out_of_memory, columns=lambda p: [], flatten=lambda r: {}
        )
    )
    if where == "decode":
        monkeypatch.setattr(safe_open, "to_working", _out_of_memory)
    pipeline = Pipeline.validated(
        steps=[Step("greedy", {})] if where == "op" else [],
        analyses=["greedy"] if where == "analysis" else [],
    )
    with pytest.raises(errors.MemoryLimitError) as caught:
        run(write_image(tmp_path / "a.png"), pipeline, NOWHERE, reduce=2)
    assert isinstance(caught.value, errors.ResourceError)
    assert caught.value.reason == "resource.memory"
    assert isinstance(caught.value.__cause__, MemoryError)
    assert errors.error_for_reason("resource.memory", "x").__class__ is errors.MemoryLimitError


# Run in a child: the address space limit is process-wide and cannot be lifted.
_DECODE_UNDER_LIMIT = """
import resource, sys
from pathlib import Path
from pixelmill import errors
from pixelmill.imaging.safe_open import open_image
headroom = int(sys.argv[2]) * 2**20
with open("/proc/self/statm") as statm:
    used = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + headroom, resource.RLIM_INFINITY))
try:
    open_image(Path(sys.argv[1]), max_pixels=10**9)
except errors.PixelmillError as exc:
    print(exc.reason, type(exc.__cause__).__name__)
else:
    print("decoded")
"""


def test_libjpeg_running_out_of_address_space_is_a_memory_limit_error(tmp_path: Path) -> None:
    # Pillow's 12 MB buffer fits in 17 MB; libjpeg's 9 MB of progressive
    # coefficients then do not, and it says only "broken data stream".
    # NOTE: measured here, 14 to 20 MB give this; under 14, Pillow's own
    # allocation fails first (a MemoryError, which passes for another reason).
    path = tmp_path / "p.jpg"
    gradient = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    gradient.save(path, progressive=True)
    for headroom_mb, expected in ((17, "resource.memory OSError"), (64, "decoded")):
        child = subprocess.run(
            [sys.executable, "-c", _DECODE_UNDER_LIMIT, str(path), str(headroom_mb)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert child.stdout.strip() == expected, child.stderr
