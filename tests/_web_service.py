"""Driving `examples/web_service.py` over HTTP: a free port, readiness, its event streams."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import httpx

from pixelmill.testing import wait_until

if TYPE_CHECKING:
    import subprocess

__all__ = ["free_port", "read_events", "wait_until_serving"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the service binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Return once `url/healthz` answers 200; fail at once if the process exits first."""

    def serving() -> bool:
        assert process.poll() is None, f"the service exited {process.returncode}"
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(serving, timeout=timeout, what=f"the service at {url} answering /healthz")


def read_events(
    client: httpx.Client, url: str, *, until: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The Server-Sent Events of `url` as (event, data), read to the stream's end,
    or only up to the first `until` event (then the stream is closed)."""
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        kind, data = "message", ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data += line.removeprefix("data: ")
            elif not line and data:
                events.append((kind, json.loads(data)))
                if kind == until:
                    break
                kind, data = "message", ""
    return events
