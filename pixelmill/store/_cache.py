"""The result cache's rows and queries: work done, keyed by input bytes and work fingerprint."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pixelmill.store._rows import decode_path, encode_path

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "UPSERT_ENTRY",
    "UPSERT_FILE",
    "CacheEntry",
    "CacheStats",
    "FileIdentity",
    "OutputFile",
    "entry_params",
    "file_params",
    "select_entries",
    "select_files",
    "stats",
    "touches",
    "trim",
]

UPSERT_ENTRY: Final = """
INSERT INTO cache (content_hash, fingerprint, result_json, outputs_json, bytes, created_at,
                   used_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (content_hash, fingerprint) DO UPDATE SET
    result_json = excluded.result_json, outputs_json = excluded.outputs_json,
    bytes = excluded.bytes, used_at = excluded.used_at
"""
UPSERT_FILE: Final = """
INSERT OR REPLACE INTO file_hashes (path, device, inode, size, mtime_ns, content_hash, seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
_CHUNK = 500
"""Keys per query: well under SQLite's limit on bound parameters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileIdentity:
    """A file as last hashed: where it was on disk, how big, when changed, its hash.

    As git's index does: while device, inode, size and modification time are
    unchanged, its bytes are taken to be too.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int
    content_hash: bytes


@dataclass(frozen=True, slots=True)
class OutputFile:
    """An output as it was written: its path, and its size and mtime then."""

    path: str
    size: int
    mtime_ns: int

    def intact(self) -> bool:
        """The file is there, as it was written."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns)

    @classmethod
    def of(cls, path: str) -> OutputFile:
        """The output `path` as it is now.

        Raises:
            OSError: it cannot be read.
        """
        stat = os.stat(path)
        return cls(path, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """What the work on some bytes gave: the result, and the outputs written."""

    result: dict[str, Any]
    """`{"width", "height", "source", "analyses"}`, as an item's record holds them."""
    outputs: tuple[OutputFile, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """The cache at a glance, for `pixelmill cache stats`."""

    entries: int
    bytes: int
    """What the entries' results take in the store, roughly."""
    recent: tuple[tuple[str, str, int, int], ...]
    """The last jobs: (job id, name, items, items from the cache)."""

    @property
    def hit_rate(self) -> float | None:
        """Items from the cache over items, across `recent`; None without items."""
        total = sum(items for _, _, items, _ in self.recent)
        return None if not total else sum(hits for *_, hits in self.recent) / total


def select_files(
    connection: sqlite3.Connection, paths: Sequence[str]
) -> dict[str, FileIdentity]:
    found: dict[str, FileIdentity] = {}
    for chunk in _chunks([encode_path(path) for path in paths]):
        rows = connection.execute(
            "SELECT path, device, inode, size, mtime_ns, content_hash FROM file_hashes "
            f"WHERE path IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        for path, device, inode, size, mtime_ns, digest in rows:
            found[decode_path(path)] = FileIdentity(
                device=device, inode=inode, size=size, mtime_ns=mtime_ns, content_hash=digest
            )
    return found


def select_entries(
    connection: sqlite3.Connection, fingerprint: str, hashes: Sequence[bytes]
) -> dict[bytes, CacheEntry]:
    found: dict[bytes, CacheEntry] = {}
    for chunk in _chunks(hashes):
        rows = connection.execute(
            "SELECT content_hash, result_json, outputs_json FROM cache "
            f"WHERE fingerprint = ? AND content_hash IN ({', '.join('?' * len(chunk))})",
            [fingerprint, *chunk],
        )
        for digest, result_json, outputs_json in rows:
            found[digest] = CacheEntry(
                result=json.loads(result_json),
                outputs=tuple(OutputFile(*output) for output in json.loads(outputs_json)),
            )
    return found


def touches(
    fingerprint: str, hashes: Sequence[bytes], now: float
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The statements that mark these entries used `now`, and hit once more."""
    for chunk in _chunks(hashes):
        yield (
            "UPDATE cache SET used_at = ?, hits = hits + 1 "
            f"WHERE fingerprint = ? AND content_hash IN ({', '.join('?' * len(chunk))})",
            (now, fingerprint, *chunk),
        )


def entry_params(
    key: tuple[bytes, str], entry: CacheEntry, now: float
) -> tuple[Any, ...]:
    result_json = json.dumps(entry.result, separators=(",", ":"))
    outputs_json = json.dumps([[o.path, o.size, o.mtime_ns] for o in entry.outputs])
    return (*key, result_json, outputs_json, len(result_json) + len(outputs_json), now, now)


def file_params(path: str, identity: FileIdentity, now: float) -> tuple[Any, ...]:
    return (encode_path(path), identity.device, identity.inode, identity.size,
            identity.mtime_ns, identity.content_hash, now)


def trim(connection: sqlite3.Connection, max_entries: int) -> int:
    """Delete the least recently used entries beyond `max_entries`; how many went."""
    (count,) = connection.execute("SELECT count(*) FROM cache").fetchone()
    excess = int(count) - max_entries
    if excess <= 0:
        return 0
    connection.execute(
        "DELETE FROM cache WHERE (content_hash, fingerprint) IN "
        "(SELECT content_hash, fingerprint FROM cache ORDER BY used_at LIMIT ?)",
        (excess,),
    )
    return excess


def stats(connection: sqlite3.Connection, recent: int) -> CacheStats:
    entries, size = connection.execute(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM cache"
    ).fetchone()
    jobs = connection.execute(
        "SELECT job_id, name, total, cached FROM jobs WHERE finished_at IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT ?",
        (recent,),
    ).fetchall()
    return CacheStats(entries=entries, bytes=size, recent=tuple(tuple(job) for job in jobs))


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
