"""Recording typical jobs and outcomes, and counting what a fresh reader sees."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import ItemRow, JobStore, Owner

if TYPE_CHECKING:
    from pathlib import Path

RESULT = {
    "width": 64,
    "height": 48,
    "source": {"format": "JPEG", "width": 640, "height": 480, "mode": "RGB"},
    "analyses": {"stats": {"mean": [1.5, 2.5, 3.5]}},
}
"""A processed item's result, as the JobManager hands it over."""

OWNER = Owner.of_this_process()
"""The owner of the jobs the tests record: this process, so alive throughout."""


def record_job(
    store: JobStore, job_id: str = "job1", *, created_at: float = 1000.0, owner: Owner = OWNER
) -> None:
    store.record_job(
        job_id,
        name=f"name of {job_id}",
        priority=2,
        spec={"inputs": ["a"]},
        created_at=created_at,
        owner=owner,
    )


def done_row(job_id: str, index: int, path: str | None = None) -> ItemRow:
    """A processed item, as the JobManager records it at its end."""
    return ItemRow(
        job_id=job_id,
        index=index,
        path=path or f"/in/{index}.jpg",
        status=ItemStatus.DONE,
        attempts=1,
        duration_ms=12.5,
        outputs=(f"/out/{index}.png",),
        result=RESULT,
    )


def record_done(store: JobStore, job_id: str, index: int, path: str | None = None) -> None:
    store.record_item(done_row(job_id, index, path))


def record_state(
    store: JobStore, job_id: str, index: int, status: ItemStatus, **fields: Any
) -> None:
    """Record an item in any state, with only the fields a test cares about."""
    path = fields.pop("path", f"/in/{index}.jpg")
    store.record_item(ItemRow(job_id=job_id, index=index, path=path, status=status, **fields))


def count_items(path: Path, job_id: str = "job1") -> int:
    """How many of a job's items a fresh reader sees."""
    with JobStore(path, readonly=True) as reader:
        return sum(1 for _ in reader.items(job_id))


def dead_owner() -> Owner:
    """The owner of a process that ran on this host and has exited (and been reaped)."""
    script = (
        "import dataclasses, json; from pixelmill.store import Owner; "
        "print(json.dumps(dataclasses.asdict(Owner.of_this_process())))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return Owner(**json.loads(done.stdout))
