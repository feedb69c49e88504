"""The result cache's rows in the job store: looked up per work fingerprint, least
recently used trimmed first, a hit counting as a use."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from types import SimpleNamespace
from typing import TYPE_CHECKING

from pixelmill.store import CacheEntry, FileIdentity, JobStore, OutputFile, _job_store

if TYPE_CHECKING:
    import pytest


def _entry(n: int) -> CacheEntry:
    return CacheEntry(result={"width": n, "height": 1, "analyses": {}},
                      outputs=(OutputFile(f"/o/{n}.png", n, n),))


def test_entries_are_found_by_their_hash_under_the_work_they_were_made_by(
    store: JobStore,
) -> None:
    store.record_cache_entry(b"a", "fp1", _entry(1))
    store.record_cache_entry(b"a", "fp2", _entry(2))
    store.record_cache_entry(b"b", "fp1", _entry(3))
    store.flush()

    found = store.cache_entries("fp1", [b"a", b"b", b"c"])

    assert found == {b"a": _entry(1), b"b": _entry(3)}
    assert store.cache_entries("fp2", [b"a", b"b"]) == {b"a": _entry(2)}
    assert store.cache_entries("fp3", [b"a"]) == {}


def test_a_hit_makes_an_entry_the_most_recently_used(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = itertools.count(1000.0)
    monkeypatch.setattr(_job_store, "time", SimpleNamespace(time=lambda: next(clock)))
    for n, digest in enumerate((b"old", b"mid", b"new")):
        store.record_cache_entry(digest, "fp", _entry(n))
    store.touch_cache_entries("fp", [b"old"])  # used again: now the latest

    store.trim_cache(2)

    assert set(store.cache_entries("fp", [b"old", b"mid", b"new"])) == {b"old", b"new"}


def _seen(digest: bytes) -> FileIdentity:
    return FileIdentity(device=1, inode=2, size=3, mtime_ns=4, content_hash=digest)


def test_prune_drops_the_entries_and_file_hashes_nothing_used_since_the_cutoff(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = 86_400.0
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(_job_store, "time", SimpleNamespace(time=lambda: clock.now))
    for digest in (b"old", b"used"):
        store.record_cache_entry(digest, "fp", _entry(len(digest)))
        store.record_file_hash(f"/in/{digest.decode()}.png", _seen(digest))
    clock.now = 5 * day
    store.touch_cache_entries("fp", [b"used"])
    store.record_file_hash("/in/used.png", _seen(b"used"))  # seen again

    store.prune(older_than_days=3, now=6 * day)

    assert set(store.cache_entries("fp", [b"old", b"used"])) == {b"used"}
    assert set(store.file_hashes(["/in/old.png", "/in/used.png"])) == {"/in/used.png"}


def test_hits_on_more_entries_than_one_query_holds_are_all_counted(store: JobStore) -> None:
    digests = [b"%05d" % n for n in range(1234)]
    for n, digest in enumerate(digests):
        store.record_cache_entry(digest, "fp", _entry(n))
    store.flush()

    store.touch_cache_entries("fp", digests)
    store.flush()

    assert len(store.cache_entries("fp", digests)) == 1234
    with contextlib.closing(sqlite3.connect(store.path)) as reader:
        (hits,) = reader.execute("SELECT sum(hits) FROM cache").fetchone()
    assert hits == 1234
