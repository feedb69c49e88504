"""Open a path only if it is a regular file: never block on a FIFO, never read a device."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, BinaryIO

from pixelmill.errors import NotAFileError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["open_regular_file"]


def open_regular_file(path: Path) -> BinaryIO:
    """Open `path` for reading only if it is a regular file (after symlinks).

    The check is made with `stat` before opening, so a FIFO is never opened
    (opening one blocks until a writer appears), and again on the descriptor,
    so a file swapped for a FIFO or device in between is refused too.

    Raises:
        NotAFileError: a directory, FIFO, socket or device.
        OSError: missing, or anything else the OS says; `map_decode_errors`
            maps it.
    """
    _require_regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _require_regular(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise NotAFileError(f"{path}: is {kind}, not a regular file")
