"""Recording typical jobs and outcomes, and counting what a fresh reader sees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixelmill.store import JobStore

if TYPE_CHECKING:
    from pathlib import Path

RESULT = {
    "width": 64,
    "height": 48,
    "source": {"format": "JPEG", "width": 640, "height": 480, "mode": "RGB"},
    "analyses": {"stats": {"mean": [1.5, 2.5, 3.5]}},
}
"""A processed item's result, as the JobManager hands it over."""


def record_job(store: JobStore, job_id: str = "job1", *, created_at: float = 1000.0) -> None:
    store.record_job(
        job_id, name=f"name of {job_id}", priority=2, spec={"inputs": ["a"]}, created_at=created_at
    )


def record_done(store: JobStore, job_id: str, index: int, path: str | None = None) -> None:
    store.record_outcome(
        job_id,
        index,
        path=path or f"/in/{index}.jpg",
        status="done",
        attempts=1,
        duration_ms=12.5,
        outputs=[f"/out/{index}.png"],
        result=RESULT,
    )


def count_items(path: Path, job_id: str = "job1") -> int:
    """How many of a job's items a fresh reader sees."""
    with JobStore(path, readonly=True) as reader:
        return sum(1 for _ in reader.items(job_id))
