from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from typing import TYPE_CHECKING

import pytest

from pixelmill.errors import ConfigError, NoSpaceError
from pixelmill.store import SCHEMA_VERSION, STORE_FILE, JobStore
from tests.store._records import record_done, record_job

if TYPE_CHECKING:
    from pathlib import Path


def _user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
        return version


def test_a_new_store_has_the_current_schema_version_and_wal(store_path: Path) -> None:
    JobStore(store_path).close()

    assert SCHEMA_VERSION == 3
    assert _user_version(store_path) == SCHEMA_VERSION
    with closing(sqlite3.connect(store_path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_a_store_keeps_what_it_holds(store_path: Path) -> None:
    with JobStore(store_path) as store:
        record_job(store)
        record_done(store, "job1", 0)

    with JobStore(store_path) as store:
        assert [item.index for item in store.items("job1")] == [0]
    assert _user_version(store_path) == SCHEMA_VERSION


def test_in_dir_opens_the_store_file_of_a_state_directory(tmp_path: Path) -> None:
    with JobStore.in_dir(tmp_path) as store:
        assert store.path == tmp_path / STORE_FILE
    assert (tmp_path / "jobs.sqlite3").is_file()


def test_a_file_that_is_not_sqlite_gives_a_clear_error(store_path: Path) -> None:
    store_path.write_bytes(b"not a database, just some bytes\n" * 100)

    with pytest.raises(ConfigError, match=rf"{store_path} is not a pixelmill job store"):
        JobStore(store_path)
    with pytest.raises(ConfigError, match=rf"{store_path} is not a pixelmill job store"):
        JobStore(store_path, readonly=True)


def test_another_programs_database_is_not_taken_over(store_path: Path) -> None:
    with closing(sqlite3.connect(store_path)) as connection:
        connection.execute("CREATE TABLE photos (name TEXT)")
        connection.commit()

    with pytest.raises(ConfigError, match="another program's SQLite database"):
        JobStore(store_path)
    with closing(sqlite3.connect(store_path)) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("photos",)]


def test_a_store_from_a_newer_pixelmill_is_refused(store_path: Path) -> None:
    JobStore(store_path).close()
    with closing(sqlite3.connect(store_path)) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(ConfigError, match="newer pixelmill"):
        JobStore(store_path)
    with pytest.raises(ConfigError, match="newer pixelmill"):
        JobStore(store_path, readonly=True)


def test_a_reader_of_a_missing_store_is_told_so(store_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"no job store at {store_path}"):
        JobStore(store_path, readonly=True)
    assert not store_path.exists()


def test_a_store_whose_directory_cannot_exist_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")

    with pytest.raises(ConfigError, match="a_file is not a directory"):
        JobStore(tmp_path / "a_file" / STORE_FILE)


def test_a_full_disk_while_committing_is_a_no_space_error(store: JobStore) -> None:
    record_job(store)
    # NOTE: the connection is private; capping the file's pages is the only way
    # to make SQLite meet a full disk here.
    store._connection.execute("PRAGMA max_page_count = 1")
    for index in range(50):
        record_done(store, "job1", index)

    with pytest.raises(NoSpaceError, match="no space left to write the job store"):
        store.flush()

    # The batch stays buffered and goes through once there is room again.
    store._connection.execute("PRAGMA max_page_count = 1000000")
    store.flush()
    assert len(list(store.items("job1"))) == 50


def test_a_store_path_that_is_a_directory_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).mkdir()

    with pytest.raises(ConfigError, match=rf"cannot open the job store {tmp_path / STORE_FILE}"):
        JobStore.in_dir(tmp_path)


def test_a_close_whose_last_commit_fails_still_closes(store_path: Path) -> None:
    store = JobStore(store_path, batch_size=10_000, batch_interval_s=3600)
    record_job(store)
    store._connection.execute("PRAGMA max_page_count = 1")
    for index in range(50):
        record_done(store, "job1", index)

    with pytest.raises(NoSpaceError):
        store.close()

    with pytest.raises(ValueError, match="closed"):
        store.jobs()
    store.close()


def test_writers_opening_a_new_store_at_once_create_it_once(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_and_write(worker: int) -> None:
        try:
            start.wait(5)
            with JobStore.in_dir(tmp_path) as store:
                record_job(store, f"job{worker}")
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    with JobStore.in_dir(tmp_path, readonly=True) as reader:
        assert sorted(row.job_id for row in reader.jobs()) == ["job0", "job1", "job2", "job3"]
