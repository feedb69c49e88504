"""Lazy expansion of a job's inputs into items, each with a collision-free output name;
and what a directory walk leaves, each with its reason."""

from __future__ import annotations

import errno
import glob
import os
import stat as stat_module
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.imaging.formats import (
    DEFAULT_FORMATS,
    SNIFF_BYTES,
    accepted_format,
    extensions_of,
    format_of_extension,
    known_formats,
)
from pixelmill.messages import IgnoredFile, IgnoredFiles

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = [
    "IGNORED_LISTED",
    "IGNORED_REASONS",
    "IMAGE_EXTENSIONS",
    "Ignored",
    "Input",
    "Named",
    "expand_inputs",
]

IMAGE_EXTENSIONS = extensions_of(DEFAULT_FORMATS)
"""What a directory walk takes by name alone, by default: the extensions Pillow (and
pillow-heif) register for the formats read by default. Files named explicitly are
tried whatever their name."""

IGNORED_REASONS = {
    "hidden": "its name, or a parent directory's, starts with a dot (include_hidden takes it)",
    "not_an_image": "no image extension of a format read, and its first bytes are no image "
                    "signature",
    "format_off": "an image in a format this job does not read (EPS and PDF by default; "
                  "the formats setting enables those Pillow can read)",
    "symlink_loop": "a symbolic link that leads to itself, or to a directory above it",
    "broken_symlink": "a symbolic link to nothing",
    "unreadable_dir": "a directory that cannot be listed (no permission, an I/O error)",
    "unreadable": "a file that cannot be read to tell what it is",
    "not_a_file": "a FIFO, socket or device: never opened",
    "walked_already": "a link to a directory this walk has already walked",
    "own_output": "the job's own output or export directory, never walked for inputs",
}
"""Why a walk leaves a file (or, with `directory`, a whole directory) under an input dir."""
IGNORED_LISTED = 100
"""Entries listed per reason in `summary.json`; past it they are counted only."""


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
    def found(
        cls, path: Path, stem: str, rel_dir: str, stat: os.stat_result | None = None
    ) -> Input:
        """The input at `path`, with its size, modification time and place on disk
        (`stat`, when the caller has it already)."""
        if stat is None:
            try:
                stat = os.stat(path)
            except (OSError, ValueError):
                return cls(path=path, stem=stem, rel_dir=rel_dir)
        return cls(path=path, stem=stem, rel_dir=rel_dir, size=stat.st_size,
                   mtime_ns=stat.st_mtime_ns, device=stat.st_dev, inode=stat.st_ino)


Named = tuple[str, str]
"""(rel_dir, stem): the output name an earlier run gave an input."""


class Ignored:
    """What a walk leaves: a count per reason and the first `limit` entries of each.

    Memory and `summary.json` stay bounded however many files are left: a
    folder of 100,000 text files costs one count and `limit` entries.
    """

    def __init__(self, limit: int = IGNORED_LISTED) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._listed: list[IgnoredFile] = []

    def add(self, path: Path, reason: str, *, fmt: str | None = None,
            directory: bool = False) -> None:
        """Count `path` under `reason`, and list it while the reason has room."""
        assert reason in IGNORED_REASONS, reason
        count = self._counts.get(reason, 0)
        self._counts[reason] = count + 1
        if count < self.limit:
            self._listed.append(
                IgnoredFile(path=str(path), reason=reason, format=fmt, directory=directory)
            )

    def snapshot(self) -> IgnoredFiles:
        """What was left so far, as the job's summary carries it."""
        return IgnoredFiles(
            counts=tuple(self._counts.items()), listed=tuple(self._listed), limit=self.limit
        )


class _Chooser:
    """Tells whether a file found by a walk is an input, by what it is.

    A file is taken when its extension is one of a format the job reads, or,
    with no or another extension, when its first `SNIFF_BYTES` carry the
    signature of such a format (nothing is parsed: a header is probed only
    in the item's own turn). A path an earlier run of the job took is taken
    again whatever it is now, so a resume accounts for it once.
    """

    def __init__(self, formats: Sequence[str], known: Mapping[str, Named]) -> None:
        self._formats = tuple(formats)
        self._others = tuple(fmt for fmt in known_formats() if fmt not in self._formats)
        self._extensions = extensions_of(self._formats)
        self._known = known

    def verdict(self, path: Path) -> tuple[os.stat_result | None, str | None, str | None]:
        """(its stat, None, None) to take `path`; else (None, reason, format or None)."""
        if str(path) in self._known:
            return None, None, None
        try:
            info = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None, "symlink_loop", None
            if isinstance(exc, FileNotFoundError) and os.path.islink(path):
                return None, "broken_symlink", None
            return None, "unreadable", None
        if not stat_module.S_ISREG(info.st_mode):
            return None, "not_a_file", None
        suffix = path.suffix.lower()
        if suffix in self._extensions:
            return info, None, None
        try:
            with open(path, "rb") as stream:
                prefix = stream.read(SNIFF_BYTES)
        except OSError:
            return None, "unreadable", None
        if accepted_format(prefix, self._formats) is not None:
            return info, None, None
        other = accepted_format(prefix, self._others) or format_of_extension(suffix)
        if other is not None and other not in self._formats:
            return None, "format_off", other
        return None, "not_an_image", None


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
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    include_hidden: bool = False,
    ignored: Ignored | None = None,
) -> Iterator[Input]:
    """Yield the items of a job lazily, in a deterministic order.

    Files are yielded as given (a missing one is yielded too, and fails as
    `input.not_a_file`, so nothing is silently dropped; so is a directory
    named as an input that holds no image file). Directories are walked
    recursively in sorted order (a directory's files, then its
    subdirectories), following symbolic links to directories; their outputs
    mirror the directory tree. A file is taken by what it is: an extension of
    one of `formats`, or else the signature of one in its first bytes (a PNG
    named `scan`, or `photo.bin`). Every file or directory a walk does not take
    is counted in `ignored` with its reason (`IGNORED_REASONS`): hidden entries
    (unless `include_hidden`), the `exclude` directories (the job's own
    outputs, one entry each), other files, links that loop or lead nowhere,
    directories that cannot be listed. With several directory inputs each gets
    its own subdirectory named after it. Globs (`*.jpg`, `**/*.png`) expand to
    files, sorted.

    Memory stays bounded by the largest single directory and the number of
    directories (each walked one is remembered, to stop at links that loop),
    not by the number of files.

    `known` maps the paths an earlier run of the job found to the names it
    gave them: they keep those names, and no new input takes one, so a resume
    over a folder that changed writes each output where it wrote it before;
    such a path found by the walk is taken again whatever it holds now.
    """
    excluded = {_resolved(path) for path in exclude}
    chooser = _Chooser(formats, known or {})
    left = ignored if ignored is not None else Ignored()
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
            walk = _Walk(Path(text), chooser, left, excluded, include_hidden=include_hidden)
            for found_input in walk.inputs(prefix, names, root_names if not prefix else None):
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


@dataclass
class _Walk:
    """One input directory's walk: what it takes, and what it leaves in `ignored`."""

    root: Path
    chooser: _Chooser
    ignored: Ignored
    excluded: set[Path]
    include_hidden: bool

    def inputs(
        self, prefix: str, names_for: Callable[[str], _Names], top_names: _Names | None
    ) -> Iterator[Input]:
        root_id = _identity(self.root)
        walked = {root_id}
        pending: list[tuple[Path, tuple[tuple[int, int] | None, ...]]] = [(self.root, (root_id,))]
        while pending:
            here, above = pending.pop()
            try:
                with os.scandir(here) as listing:
                    entries = sorted(listing, key=attrgetter("name"))
            except OSError:
                self.ignored.add(here, "unreadable_dir", directory=True)
                continue
            relative = here.relative_to(self.root).as_posix()
            rel_dir = "/".join(part for part in (prefix, relative) if part and part != ".")
            claim = top_names if (top_names is not None and rel_dir == "") else names_for(rel_dir)
            subdirs: list[tuple[Path, tuple[tuple[int, int] | None, ...]]] = []
            for entry in entries:
                name, path = entry.name, here / entry.name
                if _is_dir(entry):
                    subdir = self._directory(path, above, walked)
                    if subdir is not None:
                        subdirs.append(subdir)
                    continue
                if name.startswith(".") and not self.include_hidden:
                    self.ignored.add(path, "hidden")
                    continue
                info, reason, fmt = self.chooser.verdict(path)
                if reason is None:
                    yield Input.found(path, claim.claim(path), rel_dir, info)
                else:
                    self.ignored.add(path, reason, fmt=fmt)
            pending.extend(reversed(subdirs))

    def _directory(
        self,
        path: Path,
        above: tuple[tuple[int, int] | None, ...],
        walked: set[tuple[int, int] | None],
    ) -> tuple[Path, tuple[tuple[int, int] | None, ...]] | None:
        """A subdirectory to walk, with the directories above it; None when it is left."""
        reason = None
        identity = _identity(path)
        if path.name.startswith(".") and not self.include_hidden:
            reason = "hidden"
        elif _resolved(path) in self.excluded:
            reason = "own_output"
        elif identity in above:
            reason = "symlink_loop"
        elif identity in walked:
            reason = "walked_already"
        if reason is not None:
            self.ignored.add(path, reason, directory=True)
            return None
        walked.add(identity)
        return path, (*above, identity)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A directory, or a link to one (the listing's file type spares a stat)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _identity(path: Path) -> tuple[int, int] | None:
    """What tells a directory apart however it is reached: its device and inode."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
