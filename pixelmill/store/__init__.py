"""The durable job store: SQLite in WAL mode, written by the JobManager alone.

It knows no actor and no message class: plain values in, frozen rows out.
One thread writes (`JobStore`); any thread or process may read at the same
time through its own `JobStore(path, readonly=True)`.
"""

from __future__ import annotations

from pixelmill.store._cache import CacheEntry, CacheStats, FileIdentity, OutputFile
from pixelmill.store._job_store import STORE_FILE, JobStore
from pixelmill.store._location import state_dir
from pixelmill.store._owner import HEARTBEAT_EVERY_S, Owner
from pixelmill.store._rows import INTERRUPTED, ItemRow, JobRow, RunRow
from pixelmill.store._schema import SCHEMA_VERSION

__all__ = [
    "HEARTBEAT_EVERY_S",
    "INTERRUPTED",
    "SCHEMA_VERSION",
    "STORE_FILE",
    "CacheEntry",
    "CacheStats",
    "FileIdentity",
    "ItemRow",
    "JobRow",
    "JobStore",
    "OutputFile",
    "Owner",
    "RunRow",
    "state_dir",
]
