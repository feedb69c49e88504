"""Who runs a job: a process on a host, and whether it still does."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Final

import psutil

__all__ = ["HEARTBEAT_EVERY_S", "STALE_AFTER_S", "Owner"]

HEARTBEAT_EVERY_S: Final = 5.0
"""How often a runtime stamps its running jobs as alive."""
STALE_AFTER_S: Final = 60.0
"""A job on another host whose heartbeat is older than this has lost its owner."""
_START_SLACK_S: Final = 1.0
"""Process start times are read at clock-tick precision: compare with this slack."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """The runtime that runs a job: its host, its process, and its own token.

    The process start time tells a live owner from a later process that was
    given the same pid; the token tells two runtimes of one process apart.
    """

    host: str
    pid: int
    started: float
    """The process's start time, seconds since the epoch."""
    token: str
    """Unique per runtime."""

    @classmethod
    def of_this_process(cls) -> Owner:
        """A new owner: this host and process, with a fresh token."""
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started=psutil.Process().create_time(),
            token=uuid.uuid4().hex,
        )

    def alive(self, heartbeat_at: float | None, now: float | None = None) -> bool:
        """Whether the owner still runs: its process on this host, else its heartbeat.

        On this host the process table decides. A job owned on another host is
        judged by its heartbeat alone: alive until it is `STALE_AFTER_S` old.
        """
        if self.host != socket.gethostname():
            now = time.time() if now is None else now
            return heartbeat_at is not None and now - heartbeat_at < STALE_AFTER_S
        try:
            process = psutil.Process(self.pid)
            started = process.create_time()
            # A zombie has exited and only waits for its parent to reap it, yet
            # it keeps its pid and start time.
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False
        return abs(started - self.started) < _START_SLACK_S

    def describe(self) -> str:
        """One phrase naming the process, for messages: `process 4242 on host (started ...)`."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} on {self.host} (started {when})"
