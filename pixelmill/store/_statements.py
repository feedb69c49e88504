"""The SQL of the store's writes; each can run twice with the same effect as once."""

from __future__ import annotations

__all__ = [
    "CLAIM_JOB",
    "FINISH_JOB",
    "HEARTBEAT",
    "MARK_INTERRUPTED",
    "UPSERT_ITEM",
    "UPSERT_JOB",
    "UPSERT_RUN",
]

UPSERT_JOB = """
INSERT INTO jobs (job_id, name, status, priority, spec_json, created_at,
                  owner_host, owner_pid, owner_started, owner_token, heartbeat_at, run_started_at)
VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET
    name = excluded.name, status = 'running', priority = excluded.priority,
    spec_json = excluded.spec_json, finished_at = NULL, reason = NULL, message = NULL,
    owner_host = excluded.owner_host, owner_pid = excluded.owner_pid,
    owner_started = excluded.owner_started, owner_token = excluded.owner_token,
    heartbeat_at = excluded.heartbeat_at, run_started_at = excluded.run_started_at,
    runs = runs + 1
"""
"""Recording a job again (a resume) takes it over: running, a new owner, one run more."""
CLAIM_JOB = """
UPDATE jobs SET status = 'running', finished_at = NULL, reason = NULL, message = NULL,
    run_started_at = CASE WHEN owner_token IS ?4 THEN run_started_at ELSE ?5 END,
    owner_host = ?1, owner_pid = ?2, owner_started = ?3, owner_token = ?4, heartbeat_at = ?5,
    runs = runs + 1
WHERE job_id = ?6
"""
"""A resume starts a new run; the same runtime taking its own job up again goes on."""
UPSERT_ITEM = """
INSERT INTO items (job_id, idx, path, status, reason, message, attempts, duration_ms,
                   outputs_json, result_json, finished_at, size, mtime_ns, stem, rel_dir,
                   reduce, runs)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, idx) DO UPDATE SET
    path = excluded.path, status = excluded.status, reason = excluded.reason,
    message = excluded.message, attempts = excluded.attempts,
    duration_ms = excluded.duration_ms, outputs_json = excluded.outputs_json,
    result_json = excluded.result_json, finished_at = excluded.finished_at,
    size = excluded.size, mtime_ns = excluded.mtime_ns, stem = excluded.stem,
    rel_dir = excluded.rel_dir, reduce = excluded.reduce, runs = excluded.runs
"""
UPSERT_RUN = """
INSERT OR REPLACE INTO runs (job_id, idx, run, attempt, job_run, started_at, ended_at, status,
                             reason, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
FINISH_JOB = """
UPDATE jobs SET status = ?, reason = ?, message = ?, finished_at = ?,
    total = ?, done = ?, cached = ?, failed = ?, skipped = ?, cancelled = ?
WHERE job_id = ?
"""
HEARTBEAT = "UPDATE jobs SET heartbeat_at = ? WHERE job_id = ? AND status = 'running'"
MARK_INTERRUPTED = "UPDATE jobs SET status = 'interrupted' WHERE job_id = ? AND status = 'running'"
