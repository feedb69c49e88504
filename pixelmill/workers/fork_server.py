"""The fork server that local worker processes are forked from.

Forking a process that runs actor threads can copy a held lock into the
child; the fork server forks from a clean, single-threaded process that has
already imported the pipeline, so workers still start in milliseconds. This
module imports nothing heavy, so that a command line can start the server
first thing and let it import the pipeline while the host imports the rest.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver

__all__ = ["start", "worker_context"]

_PRELOAD = ["numpy", "pixelmill.workers.process"]
"""numpy first: the analyses import it only when they run, and every worker runs them."""


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context every local worker process is started with."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def start() -> None:
    """Start the fork server now (it is otherwise started with the first worker)."""
    worker_context()
    forkserver.ensure_running()
