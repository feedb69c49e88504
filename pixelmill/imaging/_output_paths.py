"""Where outputs may go: names checked, directories made, inputs protected, errors named."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from pixelmill.errors import (
    ConfigError,
    NoSpaceError,
    OutputConflictError,
    OutputError,
    OutputMissingError,
    OutputPermissionError,
)

__all__ = [
    "OutputTarget",
    "make_output_dir",
    "output_path",
    "refuse_input",
    "translate_write_error",
]

_NAME_MAX = 255
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_CONFLICT = frozenset({errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG})


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputTarget:
    """Where an item's outputs go: `output_dir / rel_dir / template(stem, ext)`."""

    output_dir: Path | None
    """The job's output directory; `None` when the job writes no images."""
    stem: str
    """The input's file name without extension: one path component."""
    rel_dir: str = ""
    """The input's directory relative to the job's input root, "/"-separated."""


def translate_write_error(exc: OSError, path: Path) -> OutputError:
    """The `OutputError` for an `OSError` raised while writing `path`.

    ENOSPC/EDQUOT/EFBIG -> `NoSpaceError`; EACCES/EPERM/EROFS ->
    `OutputPermissionError`; ENOENT -> `OutputMissingError`; a name that is too
    long or a file where a directory should be -> `OutputConflictError`; any
    other -> `OutputError`. The caller raises it `from exc`.
    """
    code = exc.errno
    reason = exc.strerror or str(exc)
    if code in _NO_SPACE:
        return NoSpaceError(f"{path}: no space left on the output device: {reason}")
    if code in _DENIED:
        return OutputPermissionError(f"{path}: may not be written: {reason}")
    if code == errno.ENOENT:
        return OutputMissingError(f"{path}: output directory is missing: {reason}")
    if code in _CONFLICT:
        return OutputConflictError(f"{path}: cannot be created here: {reason}")
    return OutputError(f"{path}: write failed: {reason}")


def output_path(target: OutputTarget, *, template: str, ext: str) -> Path:
    """The path `save_image` writes for `target`, checked to stay inside `output_dir`.

    Pure: touches no file. Containment through symlinks is checked by `save_image`.

    Raises:
        ConfigError: `target.output_dir` is `None`.
        OutputConflictError: the stem, `rel_dir` or formatted template would
            leave the directory (`..`, an absolute path, a separator, NUL) or
            name nothing.
    """
    if target.output_dir is None:
        raise ConfigError("save: this run has no output directory to save into")
    directory = _directory(Path(target.output_dir), target.rel_dir)
    _check_component(target.stem, "stem")
    try:
        name = template.format(stem=target.stem, ext=ext)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"save: template {template!r} is invalid: {exc}") from exc
    _check_component(name, "file name")
    return directory / name


@functools.lru_cache(maxsize=1024)
def _directory(output_dir: Path, rel_dir: str) -> Path:
    """`rel_dir` below `output_dir`, checked once per directory, not once per item."""
    if rel_dir.startswith("/"):
        raise OutputConflictError(f"rel_dir {rel_dir!r} must be a relative path")
    parts = [part for part in rel_dir.split("/") if part not in ("", ".")]
    for part in parts:
        _check_component(part, "rel_dir component")
    return output_dir.joinpath(*parts)


def _check_component(name: str, what: str) -> None:
    if name in ("", ".", "..") or any(ch in name for ch in "/\\\x00"):
        raise OutputConflictError(f"{what} {name!r} is not a single file name")
    try:
        encoded = os.fsencode(name)
    except UnicodeEncodeError:
        raise OutputConflictError(f"{what} {name!r} cannot be encoded as a file name") from None
    if len(encoded) > _NAME_MAX:
        raise OutputConflictError(f"{what} {name[:40]!r}... is longer than {_NAME_MAX} bytes")


def make_output_dir(root: Path, directory: Path) -> Path:
    """Create `directory` below `root` level by level; return it resolved.

    Raises:
        OutputMissingError: `root` itself is gone; it is never recreated.
        OutputConflictError: a level resolves outside `root` (a symlink).
        OutputError: creating a level failed (see `translate_write_error`).
    """
    # Each level is resolved before anything is created in it, so a symlink
    # inside the output directory cannot lead a mkdir outside it.
    if not root.is_dir():
        raise OutputMissingError(f"{root}: output directory is missing")
    real_root = root.resolve()
    current, shown = real_root, root
    try:
        for part in directory.relative_to(root).parts:
            current, shown = (current / part).resolve(), shown / part
            if not current.is_relative_to(real_root):
                raise OutputConflictError(f"{shown}: leads to {current}, outside {root}")
            with contextlib.suppress(FileExistsError):
                current.mkdir()
    except OSError as exc:
        raise translate_write_error(exc, current) from exc
    return current


def refuse_input(destination: Path, source: Path) -> None:
    """Raise `OutputConflictError` if writing `destination` would replace `source`.

    Compares resolved paths, and the files themselves (a hard link) when both exist.
    """
    same = destination == source.resolve()
    if not same and os.path.exists(destination):
        with contextlib.suppress(OSError):
            same = os.path.samefile(destination, source)
    if same:
        raise OutputConflictError(f"{destination}: would overwrite the input {source}")
