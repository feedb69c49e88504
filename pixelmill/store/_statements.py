"""The SQL of the store's writes; each can run twice with the same effect as once."""

from __future__ import annotations

from pixelmill.store._rows import INTERRUPTED

__all__ = [
    "FINISH_JOB",
    "MARK_INTERRUPTED",
    "PRUNABLE",
    "UPSERT_ATTEMPT",
    "UPSERT_JOB",
    "UPSERT_OUTCOME",
]

UPSERT_JOB = """
INSERT INTO jobs (job_id, name, status, priority, spec_json, created_at)
VALUES (?, ?, 'running', ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET
    name = excluded.name, status = 'running', priority = excluded.priority,
    spec_json = excluded.spec_json, finished_at = NULL, reason = NULL, message = NULL
"""
UPSERT_OUTCOME = """
INSERT INTO items (job_id, idx, path, status, reason, message, attempts, duration_ms,
                   outputs_json, result_json, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, idx) DO UPDATE SET
    path = excluded.path, status = excluded.status, reason = excluded.reason,
    message = excluded.message, attempts = excluded.attempts,
    duration_ms = excluded.duration_ms, outputs_json = excluded.outputs_json,
    result_json = excluded.result_json, finished_at = excluded.finished_at
"""
UPSERT_ATTEMPT = """
INSERT OR REPLACE INTO attempts (job_id, idx, attempt, reason, message, at)
VALUES (?, ?, ?, ?, ?, ?)
"""
FINISH_JOB = """
UPDATE jobs SET status = ?, reason = ?, message = ?, finished_at = ?,
    total = ?, done = ?, failed = ?, skipped = ?, cancelled = ?
WHERE job_id = ?
"""
MARK_INTERRUPTED = (
    f"UPDATE jobs SET status = '{INTERRUPTED}' WHERE job_id = ? AND status = 'running'"
)
PRUNABLE = """
SELECT job_id FROM jobs
WHERE status IN ('completed', 'aborted', 'cancelled') AND finished_at < ?
"""
"""The ids of jobs finished before a cutoff; a running or interrupted job is never one."""
