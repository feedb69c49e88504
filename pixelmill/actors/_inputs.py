"""Lazy expansion of a job's inputs into items, each with a collision-free output name."""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.imaging.formats import DEFAULT_FORMATS, extensions_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = ["IMAGE_EXTENSIONS", "Input", "Named", "expand_inputs"]

IMAGE_EXTENSIONS = extensions_of(DEFAULT_FORMATS)
"""What a directory walk picks up: the extensions Pillow (and pillow-heif) register for
the formats read by default. Files named explicitly are tried whatever their name."""


@dataclass(frozen=True, slots=True)
class Input:
    """One input file and where its outputs go, relative to the output dir."""

    path: Path
    stem: str
    """Unique within `rel_dir`: `photo.png` beside `photo.jpg` becomes `photo_png`."""
    rel_dir: str
    size: int | None = None
    """Bytes, as the file was found; None when it could not be read (then it fails)."""
    mtime_ns: int | None = None
    """Its modification time as found: with `size`, what tells a changed file."""
    device: int | None = None
    inode: int | None = None
    content_hash: bytes | None = None
    """The hash of its bytes, when known without reading them (the result cache's
    stat fast path): filled in by the JobManager, never by the walk."""

    @classmethod
    def found(cls, path: Path, stem: str, rel_dir: str) -> Input:
        """The input at `path`, with its size, modification time and place on disk."""
        try:
            stat = os.stat(path)
        except (OSError, ValueError):
            return cls(path=path, stem=stem, rel_dir=rel_dir)
        return cls(path=path, stem=stem, rel_dir=rel_dir, size=stat.st_size,
                   mtime_ns=stat.st_mtime_ns, device=stat.st_dev, inode=stat.st_ino)


Named = tuple[str, str]
"""(rel_dir, stem): the output name an earlier run gave an input."""


class _Names:
    """Hands out stems unique within one output directory; an input named by an
    earlier run of the job keeps its name, and no new input takes it."""

    def __init__(self, taken: Mapping[str, str] | None = None) -> None:
        self._known = taken or {}
        self._used: set[str] = {stem.lower() for stem in self._known.values()}

    def claim(self, path: Path) -> str:
        known = self._known.get(str(path))
        if known is not None:
            return known
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


def expand_inputs(
    inputs: Sequence[str],
    exclude: Sequence[Path] = (),
    known: Mapping[str, Named] | None = None,
) -> Iterator[Input]:
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

    `known` maps the paths an earlier run of the job found to the names it
    gave them: they keep those names, and no new input takes one, so a resume
    over a folder that changed writes each output where it wrote it before.
    """
    excluded = {_resolved(path) for path in exclude}
    directories = [text for text in inputs if os.path.isdir(text)]
    by_dir: defaultdict[str, dict[str, str]] = defaultdict(dict)
    for path, (rel_dir, stem) in (known or {}).items():
        by_dir[rel_dir][path] = stem

    def names(rel_dir: str) -> _Names:
        return _Names(by_dir.get(rel_dir))

    root_names = names("")

    def top(path: Path) -> Input:
        return Input.found(path, root_names.claim(path), "")

    for text in inputs:
        if os.path.isdir(text):
            prefix = root_names.claim(Path(os.path.abspath(text))) if len(directories) > 1 else ""
            found = False
            for found_input in _walk(Path(text), prefix, excluded, names,
                                     root_names if not prefix else None):
                found = True
                yield found_input
            if not found:
                # Named by the user and holding no image: account for it as
                # one item, which fails as `input.not_a_file`, not as nothing.
                yield top(Path(text))
        elif _has_magic(text) and not os.path.lexists(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                yield top(Path(text))
            for match in matches:
                if not os.path.isdir(match):
                    yield top(Path(match))
        else:
            yield top(Path(text))


def _walk(
    root: Path,
    prefix: str,
    excluded: set[Path],
    names_for: Callable[[str], _Names],
    top_names: _Names | None,
) -> Iterator[Input]:
    for current, subdirs, files in os.walk(root, onerror=None, followlinks=False):
        here = Path(current)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if not name.startswith(".") and _resolved(here / name) not in excluded
        )
        relative = here.relative_to(root).as_posix()
        rel_dir = "/".join(part for part in (prefix, relative) if part and part != ".")
        names = top_names if (top_names is not None and rel_dir == "") else names_for(rel_dir)
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            yield Input.found(path, names.claim(path), rel_dir)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
