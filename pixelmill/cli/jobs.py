"""`pixelmill jobs` and `pixelmill config`: the job history and the configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.errors import ConfigError
from pixelmill.runtime.config_file import (
    dump_toml,
    effective_config,
    find_config,
    load_settings,
    migrate,
    read_toml,
)
from pixelmill.store import JobStore, state_dir

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from pixelmill.store import JobRow

__all__ = ["config_command", "jobs_command", "open_store"]


def open_store(args: argparse.Namespace) -> JobStore:
    """The job store `--state` (or the config) names, for writing; made on first use."""
    settings = load_settings(find_config(getattr(args, "config", None), Path.cwd()))
    return JobStore.in_dir(state_dir(args.state or settings.runtime.state_dir),
                           readonly=False)  # creates an empty store on first use


def _job_data(row: JobRow) -> dict[str, Any]:
    return {
        "job_id": row.job_id,
        "name": row.name,
        "status": row.status,
        "reason": row.reason,
        "message": row.message,
        "counts": row.counts,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "duration_s": row.duration_s,
        "export_dir": row.spec.get("export_dir"),
    }


def _when(epoch_s: float | None) -> str:
    return "-" if epoch_s is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_s))


def jobs_command(args: argparse.Namespace) -> int:
    """`pixelmill jobs [show JOB_ID | prune --older-than DAYS]`."""
    # rich is imported here, not at start-up (where `pixelmill run` pays for it).
    from rich.console import Console
    from rich.table import Table

    console = Console()
    with open_store(args) as store:
        if args.action == "prune":
            removed = store.prune(args.older_than)
            console.print(f"pruned {removed} finished job(s) older than {args.older_than:g} days")
            return 0
        if args.action == "show":
            return _show(store, args.job_id, as_json=args.json, console=console)
        rows = store.jobs(args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(_job_data(row)))
        return 0
    table = Table(title="pixelmill jobs")
    for column in ("id", "name", "status", "total", "done", "cached", "failed", "skipped",
                   "cancelled", "started", "duration"):
        table.add_column(column, justify="right" if column in {"total", "done"} else "left")
    for row in rows:
        counts = row.counts
        duration = "-" if row.duration_s is None else f"{row.duration_s:.1f} s"
        table.add_row(row.job_id, row.name, row.status,
                      *(str(counts[key]) for key in ("total", "done", "cached", "failed",
                                                     "skipped", "cancelled")),
                      _when(row.created_at), duration)
    console.print(table)
    return 0


def _show(store: JobStore, job_id: str, *, as_json: bool, console: Console) -> int:
    row = store.job(job_id)
    if row is None:
        raise ConfigError(f"JOB_ID: no job {job_id!r} in {store.path}")
    items = store.items(row.job_id)
    if as_json:
        data = _job_data(row)
        data["items"] = [
            {"index": i.index, "path": i.path, "status": i.status.value, "reason": i.reason,
             "message": i.message, "attempts": i.attempts, "outputs": list(i.outputs)}
            for i in items
        ]
        print(json.dumps(data))
        return 0
    console.print(f"[bold]{row.name}[/bold] ({row.job_id}): {row.status}"
                  + (f", {row.reason}: {row.message}" if row.reason else ""))
    console.print(", ".join(f"{k} {v}" for k, v in row.counts.items()))
    by_status: dict[str, list[str]] = {}
    for item in items:
        line = item.path + (f"  [{item.reason}] {item.message or ''}" if item.reason else "")
        by_status.setdefault(item.status.value, []).append(line)
    for status, lines in by_status.items():
        console.print(f"\n[bold]{status}[/bold] ({len(lines)})", markup=True)
        for line in lines:
            console.print(f"  {line}", markup=False, highlight=False)
    if row.status != "completed":
        console.print(f"\nresume with: pixelmill resume {row.job_id}")
    return 0


def config_command(args: argparse.Namespace) -> int:
    """`pixelmill config migrate FILE` and `pixelmill config show [--config FILE]`."""
    if args.action == "migrate":
        load_settings(args.file)  # validates it, naming any bad key
        print(dump_toml(migrate(read_toml(args.file))), end="")
        return 0
    settings = load_settings(find_config(args.config, Path.cwd()))
    print(f"# source: {settings.source}")
    print(dump_toml(effective_config(settings)), end="")
    return 0
