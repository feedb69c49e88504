"""pixelmill's names for files in the making, the atomic writer, and the sweep of their leftovers.

Every file pixelmill writes in place appears under a name that carries the
pid of the process writing it and the pid space that pid belongs to, so a
later sweep can tell a live writer's file from a dead one's (a process killed
with SIGKILL cleans nothing up):

- `.pixelmill-{pid}@{space}-{16 hex}.tmp`: a file written by `open_atomic`,
  beside its final name, until it is renamed into place.
- `.pixelmill-{pid}@{space}-{name}.partial`: an export file `name`
  (`results.csv`) while its job is open (`partial_path`).

`{space}` (8 hex) stands for the host's boot and the pid namespace: two
processes see the same pids exactly when they have the same space. A writer
on another host (a Ray node writing to a shared output dir) or in another
container has another space, and its pid says nothing here.

`remove_litter` removes those of this pid space whose pid is no live process,
and the names of earlier versions, which are judged as they were:

- `.pixelmill-{pid}-{16 hex}.tmp` and `.pixelmill-{pid}-{name}.partial`
  (no space: judged by the pid alone),
- `.pixelmill-{16 hex}.tmp` (saved images), always litter,
- `.results.csv.partial`, `.results.jsonl.partial`, `.summary.json.partial`,
- `.report.html.{12 hex}.tmp`,
- `.{name}.png.{12 hex}.tmp` in a directory named `charts`.

Hex is lower case and pids are decimal without leading zeros, as written.
Nothing else is ever removed: not a file of another pid space, not a
directory or a symlink with such a name (pixelmill only ever creates regular
files there, with `O_EXCL`, which a symlink makes fail), not a user's
`.foo.tmp` or `notes.partial`.

The pid check is only as good as pids are: a dead writer's pid taken by a new
process keeps its litter until that process ends (the safe way to be wrong),
and the litter of a writer of another space stays until a sweep in that
space (a run on that host) removes it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import psutil

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["open_atomic", "partial_path", "pid_space", "remove_litter", "temp_path"]

_WRITER = r"([1-9][0-9]*)(?:@([0-9a-f]{8}))?"
"""A pid and, but in names of earlier versions, its pid space."""
_TEMP = re.compile(rf"\.pixelmill-{_WRITER}-[0-9a-f]{{16}}\.tmp")
# DOTALL: any name partial_path accepts must be recognised again.
_PARTIAL = re.compile(rf"\.pixelmill-{_WRITER}-.+\.partial", re.DOTALL)
_LEGACY = (
    re.compile(r"\.pixelmill-[0-9a-f]{16}\.tmp"),
    re.compile(r"\.(results\.csv|results\.jsonl|summary\.json)\.partial"),
    re.compile(r"\.report\.html\.[0-9a-f]{12}\.tmp"),
)
_LEGACY_CHART = re.compile(r"\..+\.png\.[0-9a-f]{12}\.tmp", re.DOTALL)
_CHARTS_DIR = "charts"
_PID_MAX = 2**31 - 1
"""Above any pid a kernel gives (Linux caps them at 2**22)."""


def temp_path(final: Path) -> Path:
    """A fresh temporary name beside `final`: `.pixelmill-{pid}@{space}-{16 hex}.tmp`.

    The pid is the calling process's, so call this in the process that
    writes the file. The name does not grow with `final`'s, so a long final
    name cannot make it too long.
    """
    return final.with_name(f".pixelmill-{_writer()}-{secrets.token_hex(8)}.tmp")


def partial_path(directory: Path, name: str) -> Path:
    """Where this process keeps export file `name` while it is in progress.

    The path is `directory / .pixelmill-{pid}@{space}-{name}.partial`,
    which `remove_litter` recognises once this process is gone.

    Raises:
        ValueError: `name` is not one plain path component.
    """
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"name: expected a file name, got {name!r}")
    return directory / f".pixelmill-{_writer()}-{name}.partial"


def pid_space() -> str:
    """This process's pid space: 8 hex naming the host's boot and the pid namespace.

    Processes with the same space see the same pids. On Linux it is the boot
    id and the pid namespace's inode; elsewhere the host name and boot time.
    """
    return _pid_space(os.getpid())


@functools.cache
def _pid_space(pid: int) -> str:
    # Keyed by pid: a forked child of another namespace computes its own.
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        boot, namespace = socket.gethostname(), str(int(psutil.boot_time()))
    return hashlib.blake2b(f"{boot}|{namespace}".encode(), digest_size=4).hexdigest()


def _writer() -> str:
    return f"{os.getpid()}@{pid_space()}"


@contextlib.contextmanager
def open_atomic(final: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """Write `final` atomically: yield a binary stream to a new temporary file beside it.

    When the block ends normally the stream is closed and the file renamed
    over `final`, so a reader sees the old file or the new one, never half
    of one. When the block, the close or the rename fails, the temporary
    file is removed, `final` is untouched and the exception propagates as it
    is (callers translate it). The temporary file is created with `O_EXCL`
    and mode 0o666 less the umask, under `temp_path(final)`.

    Args:
        final: Where the file goes; its directory must exist.
        durable: Also fsync the file before the rename and the directory
            after it, so the new file survives a power cut. Off by default:
            atomic for readers is what outputs need, and an fsync per image
            costs throughput.

    Raises:
        OSError: The temporary file cannot be created, written or renamed;
            or, when `durable`, the directory cannot be synced (the new file
            is in place then).
    """
    temporary = temp_path(final)
    # Created outside the try: a name that exists already is not ours to remove.
    stream = open(temporary, "xb", opener=_create_new)  # noqa: SIM115 (closed by `with` below)
    try:
        with stream:
            yield stream
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if durable:
        _fsync_directory(final.parent)


def remove_litter(directory: Path) -> list[Path]:
    """Remove pixelmill's leftovers under `directory`, at any depth; return them sorted.

    Leftovers are the files named in this module's docstring whose writer is
    gone: of this pid space and a pid that no process has (this process's own
    pid is alive), or a name of an earlier version. Symlinks are neither
    followed nor removed (`directory` itself may be one). A directory that cannot be read and a
    file that vanishes or cannot be removed are skipped, so a missing
    `directory` gives `[]`; the list holds only what this call removed.
    """
    removed: list[Path] = []
    # A stack, not recursion: output trees may be deeper than the recursion limit.
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as scan:
                entries = list(scan)
        except OSError:
            continue
        in_charts = current.name == _CHARTS_DIR
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                    continue
                if not (_is_litter(entry.name, in_charts) and entry.is_file(follow_symlinks=False)):
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return sorted(removed)


def _is_litter(name: str, in_charts: bool) -> bool:
    ours = _TEMP.fullmatch(name) or _PARTIAL.fullmatch(name)
    if ours:
        pid, space = ours.groups()
        # A pid of another space means nothing here: its writer may well live.
        return space in (None, pid_space()) and _writer_gone(int(pid))
    if any(legacy.fullmatch(name) for legacy in _LEGACY):
        return True
    return in_charts and _LEGACY_CHART.fullmatch(name) is not None


def _writer_gone(pid: int) -> bool:
    if pid == os.getpid() or pid > _PID_MAX:
        # Ours, or no process ever had a pid this large: pixelmill did not write it.
        return False
    try:
        # A zombie has exited: it only waits to be reaped, which an orphaned
        # worker in a container without an init may never be.
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


def _create_new(path: str, flags: int) -> int:
    # open() adds O_CREAT | O_EXCL | O_CLOEXEC for "xb"; os.open's default mode would be 0o777.
    return os.open(path, flags, 0o666)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
