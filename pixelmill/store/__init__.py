"""The durable job store: SQLite in WAL mode, written by the JobManager alone.

It knows no actor and no message class: plain values in, frozen rows out.
One thread writes (`JobStore`); any thread or process may read at the same
time through its own `JobStore(path, readonly=True)`.
"""

from __future__ import annotations

from pixelmill.store._job_store import STORE_FILE, JobStore
from pixelmill.store._location import state_dir
from pixelmill.store._queries import RESUME_SKIPS
from pixelmill.store._rows import INTERRUPTED, AttemptRow, ItemRow, JobRow
from pixelmill.store._schema import SCHEMA_VERSION

__all__ = [
    "INTERRUPTED",
    "RESUME_SKIPS",
    "SCHEMA_VERSION",
    "STORE_FILE",
    "AttemptRow",
    "ItemRow",
    "JobRow",
    "JobStore",
    "state_dir",
]
