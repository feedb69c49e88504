"""Processes as tests see them: gone or not, and this process's local workers.

A process can end between any two calls that look at it, so each check here
takes "no such process" as gone instead of raising it.
"""

from __future__ import annotations

from collections.abc import Collection

import psutil

__all__ = ["is_gone", "live_workers"]


def is_gone(process: psutil.Process | int) -> bool:
    """The process has ended: no such process, or a zombie waiting to be reaped."""
    try:
        if isinstance(process, int):
            process = psutil.Process(process)
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def live_workers(excluding: Collection[int] = ()) -> list[psutil.Process]:
    """The local worker processes of this process's Runtimes (forked by their fork
    servers, children of this process), alive, but those whose pid is `excluding`."""
    try:
        children = psutil.Process().children()
    except psutil.NoSuchProcess:  # pragma: no cover - this process exists
        return []
    workers = []
    for child in children:
        try:
            grandchildren = child.children()
        except psutil.NoSuchProcess:
            continue
        workers += [g for g in grandchildren if g.pid not in excluding and not is_gone(g)]
    return workers
