"""Hostile and unusual inputs: bad files fail as one classified item, odd files come out right."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelmill import errors
from pixelmill.imaging import ops
from pixelmill.imaging._modes import to_rgb
from pixelmill.imaging.pipeline import DEFAULT_MAX_PIXELS, OutputTarget, Pipeline, run
from pixelmill.imaging.safe_open import open_image
from pixelmill.testing.hostile import (
    BAD_NAMES,
    GOOD_NAMES,
    GoodExpectation,
    HostileCorpus,
    write_hostile_corpus,
)

BOX = 128
PIPELINE = Pipeline.validated(
    steps=[ops.thumbnail(BOX), ops.save(format="jpeg", quality=90)],
    analyses=["rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata"],
)
# What the output JPEG (quality 90) may add to a colour's error.
OUTPUT_TOLERANCE = 12
ORIENTATION_TAG = 0x0112
REASON_CLASSES = {cls.reason: cls for cls in errors.InputError.__subclasses__()}
# Each case decodes a few kilobytes at most: the bound only catches a hang.
within_a_hang_bound = pytest.mark.timeout(2, func_only=True)


@pytest.fixture(scope="module", name="corpus")
def _corpus(tmp_path_factory: pytest.TempPathFactory) -> HostileCorpus:
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile"))


@contextmanager
def _warning_filters(kind: str) -> Iterator[None]:
    """The suite's filters (every warning an error), or a worker's (only bombs)."""
    if kind == "suite":
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _ascii(name: str) -> str:
    """A test id for a file name that may hold a newline or be no valid UTF-8."""
    return ascii(name)[1:-1]


def _fitted(size: tuple[int, int], box: int) -> tuple[int, int]:
    width, height = size
    if width <= box and height <= box:
        return size
    factor = min(box / width, box / height)
    return (max(1, round(width * factor)), max(1, round(height * factor)))


def _corner(image: Image.Image) -> tuple[int, ...]:
    rgb = np.asarray(to_rgb(image))
    return tuple(int(v) for v in rgb[image.height // 8, image.width // 8])


def _assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> None:
    assert max(abs(a - e) for a, e in zip(actual, expected, strict=True)) <= tolerance, (
        actual,
        expected,
    )


def test_every_reason_is_an_input_error_class() -> None:
    assert set(REASON_CLASSES) >= {
        "input.not_image",
        "input.truncated",
        "input.too_large",
        "input.not_a_file",
        "input.unreadable",
        "input.unsupported",
    }


def test_the_corpus_is_small_and_the_same_every_time(tmp_path: Path) -> None:
    first = write_hostile_corpus(tmp_path / "a")
    second = write_hostile_corpus(tmp_path / "b")
    assert [p.name for p in first.bad] == list(BAD_NAMES)
    assert [p.name for p in first.good] == list(GOOD_NAMES)
    assert set(REASON_CLASSES) >= set(first.bad.values())
    files = [p for p in (*first.bad, *first.good) if p.is_file() and not p.is_symlink()]
    unreadable = {p for p, reason in first.bad.items() if reason == "input.unreadable"}
    for path in files:
        if path not in unreadable - first.readable_anyway:
            assert path.read_bytes() == (second.directory / path.name).read_bytes(), path.name
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
    assert list(second.good.values()) == list(first.good.values())


@within_a_hang_bound
@pytest.mark.parametrize("filters", ["suite", "worker"])
@pytest.mark.parametrize("name", BAD_NAMES, ids=_ascii)
def test_a_bad_file_fails_with_exactly_its_reason(
    name: str, filters: str, corpus: HostileCorpus, tmp_path: Path
) -> None:
    path = corpus.directory / name
    if path in corpus.readable_anyway:
        pytest.skip("this process reads mode-000 files (root, or CAP_DAC_OVERRIDE)")
    with _warning_filters(filters), pytest.raises(errors.PixelmillError) as caught:
        run(path, PIPELINE, OutputTarget(output_dir=tmp_path, stem="out"))
    assert type(caught.value) is REASON_CLASSES[corpus.bad[path]], caught.value
    assert str(path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@within_a_hang_bound
@pytest.mark.parametrize("name", GOOD_NAMES, ids=_ascii)
def test_a_good_file_opens_upright_in_its_expected_colours(
    name: str, corpus: HostileCorpus
) -> None:
    path = corpus.directory / name
    expected = corpus.good[path]
    opened = open_image(path, max_pixels=DEFAULT_MAX_PIXELS)
    assert opened.image.size == expected.size
    assert opened.source_mode == expected.source_mode
    assert opened.image.info.get("icc_profile") == expected.icc_profile
    if expected.corner is not None:
        _assert_close(_corner(opened.image), expected.corner, expected.tolerance)
    if expected.mean is not None:
        mean = float(np.asarray(to_rgb(opened.image).convert("L")).mean())
        assert mean == pytest.approx(expected.mean, abs=expected.tolerance + 0.5)


@within_a_hang_bound
@pytest.mark.parametrize("name", GOOD_NAMES, ids=_ascii)
def test_a_good_file_runs_through_the_pipeline_and_its_output_is_right(
    name: str, corpus: HostileCorpus, tmp_path: Path
) -> None:
    path = corpus.directory / name
    expected: GoodExpectation = corpus.good[path]
    result = run(path, PIPELINE, OutputTarget(output_dir=tmp_path, stem=path.stem))
    size = _fitted(expected.size, BOX)
    assert (result.width, result.height) == size
    assert result.source["mode"] == expected.source_mode
    assert set(result.analyses) == {a.name for a in PIPELINE.analyses}
    (output,) = result.outputs
    assert Path(output) == tmp_path.resolve() / f"{path.stem}.jpg"
    with Image.open(output) as saved:
        saved.load()
        assert (saved.format, saved.size) == ("JPEG", size)
        assert saved.getexif().get(ORIENTATION_TAG) is None
        assert saved.info.get("icc_profile") == expected.icc_profile
        if expected.corner is not None:
            tolerance = expected.tolerance + OUTPUT_TOLERANCE
            _assert_close(_corner(saved), expected.corner, tolerance)
    if expected.mean is not None:
        # 16-bit and float levels are scaled: clipped, the mean would be near 0 or 255.
        mean = result.analyses["luminance"]["mean"]
        assert mean == pytest.approx(expected.mean, abs=expected.tolerance + 1)
