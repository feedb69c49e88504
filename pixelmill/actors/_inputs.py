"""Lazy expansion of a job's inputs into items, each with a collision-free output name."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["IMAGE_EXTENSIONS", "Input", "expand_inputs"]

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .webp .gif .tif .tiff .bmp .dib .ppm .pgm .pbm .pnm "
    ".tga .ico".split()
)
"""What a directory walk picks up. Files named explicitly are tried whatever their name."""


@dataclass(frozen=True, slots=True)
class Input:
    """One input file and where its outputs go, relative to the output dir."""

    path: Path
    stem: str
    """Unique within `rel_dir`: `photo.png` beside `photo.jpg` becomes `photo_png`."""
    rel_dir: str


class _Names:
    """Hands out stems unique within one output directory."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, path: Path) -> str:
        stem = path.stem or path.name
        candidate = stem
        if candidate.lower() in self._used:
            candidate = f"{stem}_{path.suffix.lstrip('.').lower() or 'file'}"
        number = 2
        base = candidate
        while candidate.lower() in self._used:
            candidate = f"{base}-{number}"
            number += 1
        self._used.add(candidate.lower())
        return candidate


def _has_magic(text: str) -> bool:
    return any(char in text for char in "*?[")


def expand_inputs(inputs: Sequence[str], exclude: Sequence[Path] = ()) -> Iterator[Input]:
    """Yield the items of a job lazily, in a deterministic order.

    Files are yielded as given (a missing one is yielded too, and fails as
    `input.not_a_file`, so nothing is silently dropped; so is a directory
    named as an input that holds no image file). Directories are
    walked recursively in sorted order, skipping hidden entries, the
    `exclude` directories (the job's own outputs) and files without an image
    extension; their outputs mirror the directory tree. With several
    directory inputs each gets its own subdirectory named after it. Globs
    (`*.jpg`, `**/*.png`) expand to files, sorted.

    Memory stays bounded by the largest single directory, not the job.
    """
    excluded = {_resolved(path) for path in exclude}
    directories = [text for text in inputs if os.path.isdir(text)]
    root_names = _Names()
    for text in inputs:
        if os.path.isdir(text):
            prefix = root_names.claim(Path(os.path.abspath(text))) if len(directories) > 1 else ""
            found = False
            for found_input in _walk(Path(text), prefix, excluded, root_names if not prefix else None):
                found = True
                yield found_input
            if not found:
                # Named by the user and holding no image: account for it as
                # one item, which fails as `input.not_a_file`, not as nothing.
                yield Input(path=Path(text), stem=root_names.claim(Path(text)), rel_dir="")
        elif _has_magic(text) and not os.path.lexists(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                yield Input(path=Path(text), stem=root_names.claim(Path(text)), rel_dir="")
            for match in matches:
                if not os.path.isdir(match):
                    yield Input(path=Path(match), stem=root_names.claim(Path(match)), rel_dir="")
        else:
            yield Input(path=Path(text), stem=root_names.claim(Path(text)), rel_dir="")


def _walk(root: Path, prefix: str, excluded: set[Path], top_names: _Names | None) -> Iterator[Input]:
    for current, subdirs, files in os.walk(root, onerror=None, followlinks=False):
        here = Path(current)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if not name.startswith(".") and _resolved(here / name) not in excluded
        )
        relative = here.relative_to(root).as_posix()
        rel_dir = "/".join(part for part in (prefix, relative) if part and part != ".")
        names = top_names if (top_names is not None and rel_dir == "") else _Names()
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            yield Input(path=path, stem=names.claim(path), rel_dir=rel_dir)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
