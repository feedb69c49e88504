"""write_histogram_chart: a PNG per image, drawn with Pillow, written atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pixelmill.report import write_histogram_chart
from tests.report._records import histogram

if TYPE_CHECKING:
    from pathlib import Path


def test_the_chart_decodes_as_a_png_of_the_requested_size_and_is_not_blank(
    tmp_path: Path,
) -> None:
    path = tmp_path / "photo_0000.hist.png"
    write_histogram_chart(histogram(), path, size=(300, 90))

    with Image.open(path) as chart:
        assert chart.format == "PNG"
        assert chart.size == (300, 90)
        colours = chart.convert("RGB").getcolors(maxcolors=100_000)
    assert colours is not None
    assert len(colours) > 10


def test_each_channel_peaks_in_its_own_colour_at_its_level(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    write_histogram_chart(histogram((20, 128, 235)), path)

    with Image.open(path) as chart:
        pixels = chart.convert("RGB")
        top_r, top_g, top_b = (pixels.getpixel((x, 1)) for x in (20, 128, 235))
    assert isinstance(top_r, tuple) and isinstance(top_g, tuple) and isinstance(top_b, tuple)
    assert top_r[0] > 150 and top_r[1] < 120
    assert top_g[1] > 120 and top_g[0] < 120
    assert top_b[2] > 150 and top_b[0] < 120


def test_the_default_size_is_256_by_120(tmp_path: Path) -> None:
    write_histogram_chart(histogram(), tmp_path / "chart.png")

    with Image.open(tmp_path / "chart.png") as chart:
        assert chart.size == (256, 120)


def test_an_all_zero_histogram_still_draws_a_chart(tmp_path: Path) -> None:
    write_histogram_chart({c: [0] * 256 for c in "rgb"}, tmp_path / "chart.png")

    with Image.open(tmp_path / "chart.png") as chart:
        assert chart.size == (256, 120)


@pytest.mark.parametrize(
    "bad",
    [
        {"r": [1] * 256, "g": [1] * 256},
        {"r": [1] * 256, "g": [1] * 256, "b": [1] * 255},
        {"r": [1], "g": [1], "b": [1]},
        {"r": [1, -1], "g": [1, 1], "b": [1, 1]},
    ],
)
def test_a_histogram_that_is_not_three_equal_channels_is_refused(
    tmp_path: Path, bad: dict[str, list[int]]
) -> None:
    with pytest.raises(ValueError, match="histogram"):
        write_histogram_chart(bad, tmp_path / "chart.png")

    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_neither_a_chart_nor_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "chart.png"
    target.mkdir()  # os.replace cannot put a file over a directory

    with pytest.raises(IsADirectoryError):
        write_histogram_chart(histogram(), target)

    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]
    assert target.is_dir()
