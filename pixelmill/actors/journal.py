"""The JobManager's record of its jobs in the durable store, and back again for a resume."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.errors import PixelmillError
from pixelmill.imaging.pipeline import Pipeline
from pixelmill.imaging.steps import Step
from pixelmill.messages import ItemStatus, JobOrder, Priority
from pixelmill.store import RESUME_SKIPS, JobStore

if TYPE_CHECKING:
    from pixelmill.messages import ItemFinished, JobFinished

__all__ = ["Journal", "order_from_spec", "order_to_spec"]


def order_to_spec(order: JobOrder) -> dict[str, Any]:
    """The JSON-ready description of a job, enough to run it again."""
    pipeline = order.pipeline
    return {
        "name": order.name,
        "inputs": list(order.inputs),
        "steps": [step.to_data(kind="op") for step in pipeline.steps],
        "analyses": [step.to_data(kind="analysis") for step in pipeline.analyses],
        "max_pixels": pipeline.max_pixels,
        "output_dir": None if order.output_dir is None else str(order.output_dir),
        "export_dir": str(order.export_dir),
        "priority": order.priority.name.lower(),
        "exclude_dirs": [str(path) for path in order.exclude_dirs],
        "charts": order.charts,
        "plugins": list(order.plugins),
    }


def order_from_spec(spec: dict[str, Any], *, job_id: str) -> JobOrder:
    """Rebuild a stored job's order, validated as when it was first submitted."""
    pipeline = Pipeline.validated(
        steps=[Step.from_data(data, kind="op") for data in spec["steps"]],
        analyses=[Step.from_data(data, kind="analysis") for data in spec["analyses"]],
        max_pixels=spec["max_pixels"],
    )
    return JobOrder(
        job_id=job_id,
        name=spec["name"],
        inputs=tuple(spec["inputs"]),
        pipeline=pipeline,
        output_dir=None if spec["output_dir"] is None else Path(spec["output_dir"]),
        export_dir=Path(spec["export_dir"]),
        priority=Priority[spec["priority"].upper()],
        exclude_dirs=tuple(Path(path) for path in spec["exclude_dirs"]),
        charts=bool(spec.get("charts", False)),
        plugins=tuple(spec.get("plugins", ())),
    )


def _result_data(item: ItemFinished) -> dict[str, Any] | None:
    result = item.result
    if result is None:
        return None
    return {
        "width": result.width,
        "height": result.height,
        "source": dict(result.source),
        "analyses": dict(result.analyses),
    }


class Journal:
    """Writes jobs, attempts and outcomes to the store; a no-op without a store.

    Everything runs in the JobManager's thread (sqlite3 connections belong
    to the thread that opened them). A store error never escapes: it is
    handed to `on_error` with the job it concerns, and the JobManager aborts
    that job, since every later write would fail alike.
    """

    def __init__(self, path: Path | None, on_error: Callable[[str, PixelmillError], None]) -> None:
        self._path = path
        self._on_error = on_error
        self._store: JobStore | None = None

    def open(self) -> None:
        if self._path is not None:
            self._store = JobStore(self._path)

    def close(self, unfinished: list[str]) -> None:
        """Mark the jobs still running as interrupted, so they can be resumed; close."""
        if self._store is None:
            return
        with contextlib.suppress(PixelmillError):
            for job_id in unfinished:
                self._store.mark_interrupted(job_id)
        with contextlib.suppress(PixelmillError):
            self._store.close()
        self._store = None

    def _write(self, job_id: str, write: Callable[[JobStore], None]) -> None:
        if self._store is None:
            return
        try:
            write(self._store)
        except PixelmillError as exc:
            self._on_error(job_id, exc)

    def job_started(self, order: JobOrder) -> None:
        self._write(order.job_id, lambda store: store.record_job(
            order.job_id, name=order.name, priority=int(order.priority),
            spec=order_to_spec(order), created_at=time.time(),
        ))

    def item_finished(self, item: ItemFinished) -> None:
        outputs = item.result.outputs if item.result is not None else ()
        self._write(item.job_id, lambda store: store.record_outcome(
            item.job_id, item.index, path=item.path, status=item.status.value,
            reason=item.reason, message=item.message, attempts=item.attempts,
            duration_ms=item.duration_ms, outputs=outputs, result=_result_data(item),
        ))

    def attempt_failed(self, job_id: str, index: int, attempt: int, reason: str, text: str) -> None:
        self._write(job_id, lambda store: store.record_attempt(
            job_id, index, attempt, reason=reason, message=text
        ))

    def job_finished(self, summary: JobFinished) -> None:
        self._write(summary.job_id, lambda store: store.finish_job(
            summary.job_id, status=summary.status.value, reason=summary.reason,
            message=summary.message, counts=summary.counts.as_dict(),
            finished_at=summary.started_at + summary.duration_s,
        ))

    def flush(self) -> None:
        self._write("", lambda store: store.flush())

    def prior(self, job_id: str) -> dict[str, ItemStatus]:
        """Items a resume must not redo (done, failed, skipped), by path."""
        if self._store is None:
            return {}
        return {
            row.path: row.status
            for row in self._store.items(job_id)
            if row.status.value in RESUME_SKIPS
        }

    def replay(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The full records of those items, streamed from a reader of their own."""
        if self._path is None:
            return
        with JobStore(self._path, readonly=True) as reader:
            for record in reader.outcome_records(job_id):
                if record["status"] in RESUME_SKIPS:
                    yield record
