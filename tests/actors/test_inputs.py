"""Input expansion on its own: what a job's inputs become, in which order, under which names."""

from __future__ import annotations

import os
from pathlib import Path

from pixelmill.actors._inputs import expand_inputs


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _names(inputs: list[str], **kwargs: object) -> list[tuple[str, str, str]]:
    return [(str(i.path), i.rel_dir, i.stem) for i in expand_inputs(inputs, **kwargs)]  # type: ignore[arg-type]


def test_a_directory_is_walked_in_sorted_order_mirroring_its_tree(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "sub/c.png", "sub/deeper/d.webp", "notes.txt"):
        _touch(tmp_path / "in" / name)

    found = _names([str(tmp_path / "in")])

    base = str(tmp_path / "in")
    assert found == [
        (f"{base}/a.jpg", "", "a"),
        (f"{base}/b.png", "", "b"),
        (f"{base}/sub/c.png", "sub", "c"),
        (f"{base}/sub/deeper/d.webp", "sub/deeper", "d"),
    ]


def test_hidden_entries_and_excluded_dirs_are_not_walked(tmp_path: Path) -> None:
    _touch(tmp_path / "in" / ".hidden.png")
    _touch(tmp_path / "in" / ".cache" / "x.png")
    _touch(tmp_path / "in" / "out" / "made.png")
    _touch(tmp_path / "in" / "kept.png")

    found = _names([str(tmp_path / "in")], exclude=[tmp_path / "in" / "out"])

    assert [stem for _, _, stem in found] == ["kept"]


def test_names_that_would_collide_get_their_extension(tmp_path: Path) -> None:
    for name in ("photo.jpg", "photo.png", "photo.webp"):
        _touch(tmp_path / "in" / name)
    _touch(tmp_path / "in" / "photo_png.png")

    stems = [stem for _, _, stem in _names([str(tmp_path / "in")])]

    assert stems == ["photo", "photo_png", "photo_webp", "photo_png_png"]
    assert len(set(stems)) == len(stems)


def test_names_given_by_an_earlier_run_are_kept_and_never_taken_by_a_new_file(
    tmp_path: Path,
) -> None:
    # An earlier run named photo.png "photo"; photo.jpg, added since, sorts first.
    png = _touch(tmp_path / "in" / "photo.png")
    _touch(tmp_path / "in" / "photo.jpg")

    found = _names([str(tmp_path / "in")], known={str(png): ("", "photo")})

    assert dict((Path(p).name, stem) for p, _, stem in found) == {
        "photo.jpg": "photo_jpg", "photo.png": "photo",
    }


def test_each_input_carries_what_identifies_its_file(tmp_path: Path) -> None:
    path = _touch(tmp_path / "a.png", b"12345")
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))

    (found, missing) = expand_inputs([str(path), str(tmp_path / "gone.png")])

    assert (found.size, found.mtime_ns) == (5, 2_000_000_000)
    assert (missing.path.name, missing.size, missing.mtime_ns) == ("gone.png", None, None)


def test_files_globs_and_empty_dirs_are_each_accounted_for(tmp_path: Path) -> None:
    _touch(tmp_path / "g" / "one.png")
    _touch(tmp_path / "g" / "two.png")
    (tmp_path / "empty").mkdir()

    found = [i.path.name for i in expand_inputs([
        str(tmp_path / "g" / "*.png"), str(tmp_path / "empty"), str(tmp_path / "nomatch*.png"),
    ])]

    # The empty dir and the glob matching nothing are inputs too: they fail, not vanish.
    assert found == ["one.png", "two.png", "empty", "nomatch*.png"]


def test_several_directories_each_get_an_output_subdirectory(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "x.png")
    _touch(tmp_path / "b" / "x.png")

    found = _names([str(tmp_path / "a"), str(tmp_path / "b")])

    assert [(rel, stem) for _, rel, stem in found] == [("a", "x"), ("b", "x")]


def test_expansion_is_lazy(tmp_path: Path) -> None:
    _touch(tmp_path / "in" / "a.png")
    inputs = expand_inputs([str(tmp_path / "in")])
    _touch(tmp_path / "in" / "b.png")  # after the call, before the walk
    assert [i.path.name for i in inputs] == ["a.png", "b.png"]
