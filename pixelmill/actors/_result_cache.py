"""The JobManager's side of the result cache: hashes, lookups, outputs put back in place.

It runs in the JobManager's thread and talks to the job store through the
`Journal`. It reads no input's bytes: their hashes are made by the workers
that probe their headers (`ProbeHeaders`); here only files are stat'ed
(the fast path) and outputs copied. A cache entry is the work done on some
bytes (their BLAKE2b hash) by a pipeline (its fingerprint): the analyses' results and the outputs
written, each with its size and modification time then.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.actors.job_events import CacheAnswer
from pixelmill.imaging.atomic import open_atomic
from pixelmill.imaging.fingerprint import work_fingerprint
from pixelmill.store import CacheEntry, FileIdentity, OutputFile

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pixelmill.actors._inputs import Input
    from pixelmill.actors.job_events import LookupCache, RecordCache
    from pixelmill.actors.journal import Journal
    from pixelmill.messages import HeadersRead, JobOrder

__all__ = ["ResultCache"]

_TRIM_EVERY = 10_000
"""Entries written between two trims to `max_entries` (a trim counts the cache)."""


class ResultCache:
    """What the JobManager does for the cache, on behalf of its jobs.

    Args:
        journal: the store's writer.
        enabled: the runtime's switch (`[cache] enabled`).
        max_entries: the bound; the least recently used entries go first.
        verify: hash every input, even those whose size and mtime are unchanged.
    """

    def __init__(
        self, journal: Journal, *, enabled: bool, max_entries: int, verify: bool
    ) -> None:
        self._journal = journal
        self._enabled = enabled
        self._max_entries = max_entries
        self._verify = verify
        self._written = 0

    def fingerprint(self, order: JobOrder) -> str | None:
        """The job's key to the cache, or None when the cache is off for the runtime.

        A job with `cache` off (`--no-cache`) still gets one: it looks nothing
        up, but what it works is recorded for later jobs.
        """
        if not self._enabled:
            return None
        return work_fingerprint(order.pipeline)

    def known_hashes(self, order: JobOrder, inputs: Sequence[Input]) -> tuple[Input, ...]:
        """The inputs, with the hash of those whose file is unchanged since it was
        hashed (device, inode, size, mtime): the stat fast path, as git's index."""
        if not inputs or not self._enabled or self._verify or order.verify_cache:
            return tuple(inputs)
        known = self._journal.file_hashes([str(found.path) for found in inputs])
        return tuple(
            dataclasses.replace(found, content_hash=seen.content_hash)
            if (seen := known.get(str(found.path))) is not None and _same_file(found, seen)
            else found
            for found in inputs
        )

    def remember(self, read: HeadersRead) -> None:
        """Keep the hashes a worker's probes made with each file's identity on disk (as
        it was opened, before any read), for the next run's fast path."""
        if not self._enabled:
            return
        for outcome in read.outcomes:
            probed = outcome.probed
            if probed is None or probed.content_hash is None:
                continue
            self._journal.record_file_hash(str(outcome.path), FileIdentity(
                device=probed.device, inode=probed.inode, size=probed.size,
                mtime_ns=probed.mtime_ns, content_hash=probed.content_hash,
            ))

    def look_up(self, fingerprint: str, requests: Sequence[LookupCache]) -> list[CacheAnswer]:
        """Answer each lookup: a hit whose outputs are (put back) in place, or a miss."""
        entries = self._journal.cache_entries(
            fingerprint, [request.content_hash for request in requests]
        )
        answers = []
        hits = []
        for request in requests:
            entry = entries.get(request.content_hash)
            key = (request.content_hash, fingerprint)
            outputs = None if entry is None else self._restored(key, entry, request.outputs)
            if entry is None or outputs is None:
                answers.append(CacheAnswer(request.index))
                continue
            hits.append(request.content_hash)
            answers.append(CacheAnswer(request.index, entry.result, outputs))
        if hits:
            self._journal.touch_cache_entries(fingerprint, hits)
        return answers

    def record(self, done: RecordCache) -> None:
        """Keep an item's work, its outputs as they are on disk now."""
        if not self._keep((done.content_hash, done.fingerprint), done.result, done.outputs):
            return
        self._written += 1
        if self._written % _TRIM_EVERY == 0:
            self.trim()

    def trim(self) -> None:
        """Keep the cache within `max_entries` (at each job's end, and every so often)."""
        if self._enabled:
            self._journal.trim_cache(self._max_entries)

    def _restored(
        self, key: tuple[bytes, str], entry: CacheEntry, wanted: Sequence[Path]
    ) -> tuple[str, ...] | None:
        """The outputs for this job: each kept where it is if it is this job's own and
        intact, copied from an intact earlier one otherwise; None if one is lost."""
        if len(entry.outputs) != len(wanted) or not all(o.intact() for o in entry.outputs):
            return None
        copied = False
        for earlier, path in zip(entry.outputs, wanted, strict=True):
            if Path(earlier.path) != path:
                try:
                    _copy(Path(earlier.path), path)
                except OSError:
                    return None
                copied = True
        paths = tuple(str(path) for path in wanted)
        if copied:  # the copies are the outputs to look for next time
            self._keep(key, entry.result, paths)
        return paths

    def _keep(self, key: tuple[bytes, str], result: dict[str, Any], paths: Sequence[str]) -> bool:
        """Record `result` under `key` with its outputs as they are on disk now; False
        (nothing recorded) if one is gone already."""
        try:
            outputs = tuple(OutputFile.of(path) for path in paths)
        except OSError:
            return False
        self._journal.record_cache_entry(key, CacheEntry(result=result, outputs=outputs))
        return True


def _same_file(found: Input, seen: FileIdentity) -> bool:
    return (found.device, found.inode, found.size, found.mtime_ns) == (
        seen.device, seen.inode, seen.size, seen.mtime_ns
    )


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, open_atomic(destination) as writer:
        shutil.copyfileobj(reader, writer)
