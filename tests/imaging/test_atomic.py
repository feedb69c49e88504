"""Atomic writes under names carrying the writer's pid, and the sweep of what dead writers left."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from pixelmill.imaging.atomic import (
    open_atomic,
    partial_path,
    pid_space,
    remove_litter,
    temp_path,
)
from pixelmill.testing import wait_until
from tests._killed_writer import killed_writers_file

if TYPE_CHECKING:
    from collections.abc import Iterator

LEGACY_NAMES = [
    ".pixelmill-0123456789abcdef.tmp",
    ".results.csv.partial",
    ".results.jsonl.partial",
    ".summary.json.partial",
    ".report.html.0123456789ab.tmp",
]


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def hex16() -> str:
    return secrets.token_hex(8)


def ours(pid: int, rest: str) -> str:
    """The name a writer of this pid space with `pid` gives: `.pixelmill-{pid}@{space}-{rest}`."""
    return f".pixelmill-{pid}@{pid_space()}-{rest}"


@pytest.fixture(name="dead_pid")
def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    # A pid taken again at once would make a test fail for the wrong reason.
    assert not psutil.pid_exists(child.pid)
    return child.pid


@pytest.fixture(name="live_pid")
def _live_pid() -> Iterator[int]:
    """The pid of a process that runs for the length of the test."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def test_a_temp_path_is_beside_the_final_file_and_names_the_writing_pid() -> None:
    final = Path("/out/sub/photo.jpg")

    first, second = temp_path(final), temp_path(final)

    assert first.parent == final.parent
    assert re.fullmatch(rf"{re.escape(ours(os.getpid(), ''))}[0-9a-f]{{16}}\.tmp", first.name)
    assert first != second


def test_a_temp_path_made_in_another_process_names_that_process() -> None:
    code = (
        "from pathlib import Path; from pixelmill.imaging.atomic import temp_path; "
        "import os; print(os.getpid(), temp_path(Path('/out/a.jpg')).name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid, name = out.stdout.split()

    assert pid != str(os.getpid())
    assert name.startswith(f".pixelmill-{pid}@{pid_space()}-")


def test_a_temp_path_does_not_grow_with_the_final_name() -> None:
    assert len(temp_path(Path("/out") / ("x" * 250)).name) < 64


def test_a_partial_path_names_the_writing_pid_and_the_export_file(tmp_path: Path) -> None:
    assert partial_path(tmp_path, "results.csv") == (
        tmp_path / ours(os.getpid(), "results.csv.partial")
    )


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\0b"])
def test_a_partial_path_refuses_a_name_that_is_not_one_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        partial_path(tmp_path, name)


def test_open_atomic_puts_the_bytes_in_place_under_a_pid_temp_name_meanwhile(
    tmp_path: Path,
) -> None:
    final = tmp_path / "a.bin"

    with open_atomic(final) as stream:
        stream.write(b"new")
        [temporary] = tmp_path.iterdir()
        assert temporary.name.startswith(ours(os.getpid(), ""))
        assert not final.exists()

    assert final.read_bytes() == b"new"
    assert tree(tmp_path) == {"a.bin"}


def test_open_atomic_replaces_an_existing_file(tmp_path: Path) -> None:
    final = touch(tmp_path / "a.bin")

    with open_atomic(final) as stream:
        stream.write(b"new")

    assert final.read_bytes() == b"new"
    assert tree(tmp_path) == {"a.bin"}


def test_a_failed_write_leaves_no_temp_file_and_the_old_file(tmp_path: Path) -> None:
    final = touch(tmp_path / "a.bin")

    with pytest.raises(OSError, match="disk on fire"), open_atomic(final) as stream:
        stream.write(b"half")
        raise OSError("disk on fire")

    assert final.read_bytes() == b"x"
    assert tree(tmp_path) == {"a.bin"}


def test_a_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    final = tmp_path / "a.bin"
    final.mkdir()  # os.replace cannot put a file over a directory

    with pytest.raises(IsADirectoryError), open_atomic(final) as stream:
        stream.write(b"new")

    assert tree(tmp_path) == {"a.bin"}
    assert final.is_dir()


def test_a_temp_file_cannot_be_created_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), open_atomic(tmp_path / "gone" / "a.bin"):
        pass


def test_a_durable_write_fsyncs_the_file_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with open_atomic(tmp_path / "plain.bin") as stream:
        stream.write(b"a")
    assert synced == []

    with open_atomic(tmp_path / "durable.bin", durable=True) as stream:
        stream.write(b"b")
    assert len(synced) == 2
    assert (tmp_path / "durable.bin").read_bytes() == b"b"


def test_a_temp_file_of_a_killed_writer_is_litter(tmp_path: Path) -> None:
    left = killed_writers_file(tmp_path / "a.jpg")

    assert remove_litter(tmp_path) == [left]
    assert tree(tmp_path) == set()


def test_remove_litter_removes_dead_writers_files_at_any_depth(
    tmp_path: Path, dead_pid: int
) -> None:
    litter = [
        touch(tmp_path / ours(dead_pid, f"{hex16()}.tmp")),
        touch(tmp_path / ours(dead_pid, "results.csv.partial")),
        touch(tmp_path / "a" / "b" / ours(dead_pid, f"{hex16()}.tmp")),
        touch(tmp_path / "a" / ours(dead_pid, "summary.json.partial")),
        # An earlier version's names, without the pid space: judged by the pid.
        touch(tmp_path / "a" / f".pixelmill-{dead_pid}-{hex16()}.tmp"),
        touch(tmp_path / f".pixelmill-{dead_pid}-results.jsonl.partial"),
    ]
    touch(tmp_path / "a" / "b" / "photo.jpg")

    assert remove_litter(tmp_path) == sorted(litter)
    assert tree(tmp_path) == {"a", "a/b", "a/b/photo.jpg"}


def test_a_process_that_has_exited_is_a_dead_writer(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    litter = touch(tmp_path / ours(child.pid, f"{hex16()}.tmp"))

    assert remove_litter(tmp_path) == [litter]


def test_a_writer_that_exited_but_was_never_reaped_is_a_dead_writer(tmp_path: Path) -> None:
    # An orphaned worker in a container without an init stays a zombie.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 10,
               "the child to exit")
    litter = touch(tmp_path / ours(child.pid, f"{hex16()}.tmp"))

    assert remove_litter(tmp_path) == [litter]
    child.wait()


def test_remove_litter_removes_the_names_of_earlier_versions_at_any_depth(
    tmp_path: Path,
) -> None:
    litter = [touch(tmp_path / name) for name in LEGACY_NAMES]
    litter += [touch(tmp_path / "job" / "sub" / name) for name in LEGACY_NAMES]
    litter.append(touch(tmp_path / "job" / "charts" / ".000001-photo.png.0123456789ab.tmp"))
    touch(tmp_path / "job" / "charts" / "000001-photo.png")

    assert remove_litter(tmp_path) == sorted(litter)
    assert tree(tmp_path) == {"job", "job/sub", "job/charts", "job/charts/000001-photo.png"}


def test_remove_litter_keeps_the_files_of_live_writers(tmp_path: Path, live_pid: int) -> None:
    kept = {
        ours(os.getpid(), f"{hex16()}.tmp"),
        ours(os.getpid(), "results.jsonl.partial"),
        ours(live_pid, f"{hex16()}.tmp"),
        ours(live_pid, "results.csv.partial"),
        f".pixelmill-{live_pid}-{hex16()}.tmp",  # an earlier version's name
    }
    for name in kept:
        touch(tmp_path / "out" / name)

    assert remove_litter(tmp_path) == []
    assert tree(tmp_path / "out") == kept


def test_remove_litter_keeps_the_files_of_writers_of_another_pid_space(
    tmp_path: Path, dead_pid: int
) -> None:
    # A Ray node writing into a shared output dir: its pids say nothing here.
    other = format(int(pid_space(), 16) ^ 1, "08x")
    kept = {
        f".pixelmill-{dead_pid}@{other}-{hex16()}.tmp",
        f".pixelmill-{dead_pid}@{other}-results.csv.partial",
        f".pixelmill-{10**6 + 1}@{other}-{hex16()}.tmp",
    }
    for name in kept:
        touch(tmp_path / name)

    assert remove_litter(tmp_path) == []
    assert tree(tmp_path) == kept


def test_the_pid_space_is_the_same_in_another_process_of_this_namespace() -> None:
    code = "from pixelmill.imaging.atomic import pid_space; print(pid_space())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert re.fullmatch(r"[0-9a-f]{8}", pid_space())
    assert out.stdout.strip() == pid_space()


def test_the_pid_space_differs_in_another_pid_namespace() -> None:
    code = "from pixelmill.imaging.atomic import pid_space; print(pid_space())"
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to make a pid namespace")
    out = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        pytest.skip(f"this process may not make a pid namespace: {out.stderr.strip()}")

    assert re.fullmatch(r"[0-9a-f]{8}", out.stdout.strip())
    assert out.stdout.strip() != pid_space()


def test_remove_litter_keeps_user_files_with_similar_names(tmp_path: Path, dead_pid: int) -> None:
    similar = {
        ".foo.tmp",
        "notes.partial",
        ".notes.partial",
        "results.csv.partial",
        ".results.csv.partial.bak",
        ".results.txt.partial",
        ".report.html.tmp",
        ".report.html.0123456789a.tmp",
        ".report.html.0123456789AB.tmp",
        ".photo.png.0123456789ab.tmp",  # a chart's name, but not in `charts`
        ".pixelmill-abc.tmp",
        ".pixelmill-0123456789ABCDEF.tmp",
        ".pixelmill-0123456789abcdef.tmp.keep",
        f"pixelmill-{dead_pid}-{hex16()}.tmp",
        f".pixelmill-{dead_pid}-{hex16()[:15]}.tmp",
        f".pixelmill-{dead_pid}-{hex16().upper()}.tmp",
        f".pixelmill-0{dead_pid}-{hex16()}.tmp",
        f".pixelmill-{dead_pid}-.partial",
        f".pixelmill-{10**30}-{hex16()}.tmp",  # no process ever had this pid
        f".pixelmill-{dead_pid}-{hex16()}.tmp~",
        f".pixelmill-{dead_pid}@{pid_space().upper()}-{hex16()}.tmp",
        f".pixelmill-{dead_pid}@{pid_space()[:7]}-{hex16()}.tmp",
        f".pixelmill-{dead_pid}@-results.csv.partial",
        ours(dead_pid, ".partial"),
    }
    in_charts = {".000001-photo.jpg.0123456789ab.tmp", ".png.0123456789ab.tmp"}
    for name in similar:
        touch(tmp_path / name)
    for name in in_charts:
        touch(tmp_path / "charts" / name)

    assert remove_litter(tmp_path) == []
    assert tree(tmp_path) == similar | {"charts"} | {f"charts/{name}" for name in in_charts}


def test_remove_litter_keeps_directories_and_symlinks_with_litter_names(
    tmp_path: Path, dead_pid: int
) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    user_file = touch(elsewhere / "mine.csv")
    outside_litter = touch(elsewhere / ".results.csv.partial")
    directory = root / f".pixelmill-{dead_pid}-{hex16()}.tmp"
    inner = touch(directory / ".summary.json.partial")
    (root / ".results.csv.partial").symlink_to(user_file)
    (root / f".pixelmill-{dead_pid}-{hex16()}.tmp").symlink_to(user_file)
    (root / ".summary.json.partial").symlink_to(tmp_path / "nowhere")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)

    assert remove_litter(root) == [inner]
    assert directory.is_dir()
    assert len(list(root.iterdir())) == 5
    assert user_file.read_bytes() == b"x"
    assert outside_litter.exists()


def test_remove_litter_follows_a_symlink_given_as_the_directory(tmp_path: Path) -> None:
    litter = touch(tmp_path / "real" / ".results.csv.partial")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)

    assert remove_litter(tmp_path / "link") == [tmp_path / "link" / ".results.csv.partial"]
    assert not litter.exists()


def test_remove_litter_skips_a_directory_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = touch(tmp_path / "locked" / ".results.csv.partial")
    litter = touch(tmp_path / "open" / ".results.csv.partial")
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        # Denied by a stub: the tests may run as root, whom permissions do not stop.
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)

    assert remove_litter(tmp_path) == [litter]
    assert locked.exists()


def test_remove_litter_skips_a_file_that_vanishes_before_it_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vanishing = touch(tmp_path / "a" / ".results.csv.partial")
    litter = touch(tmp_path / "b" / ".results.csv.partial")
    real_unlink = os.unlink

    def unlink(path: str) -> None:
        if Path(path) == vanishing:
            real_unlink(path)  # another sweep got there first
            raise FileNotFoundError(2, "No such file or directory", path)
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", unlink)

    assert remove_litter(tmp_path) == [litter]
    assert not vanishing.exists()


def test_remove_litter_of_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert remove_litter(tmp_path / "gone") == []
