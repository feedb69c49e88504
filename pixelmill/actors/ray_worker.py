"""The Ray backend's worker: the same pipeline, in a Ray actor on any node of a cluster.

Imported only when a Runtime runs with `backend="ray"`; `pip install
'pixelmill[ray]'` brings Ray. Only paths and small records travel: inputs are
read from, and outputs written to, paths every node can reach.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from typing import Any

import ray

from pixelmill.actors import worker

__all__ = ["RayWorkerHandle", "dead_worker_errors", "ensure_ray"]

dead_worker_errors: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError,
    ray.exceptions.WorkerCrashedError,
)
"""What a future of a worker that died raises (as `BrokenProcessPool` locally)."""


class _Worker:
    """The Ray actor: one worker process, confined as a local worker is."""

    def __init__(self, memory_mb: int | None) -> None:
        # No address-space cap here: a Ray worker maps the object store, far
        # beyond any per-item cap; Ray's own memory monitor guards the node.
        worker.init_worker(None)

    def pid(self) -> int:
        return os.getpid()

    def run_item(self, *args: Any, **kwargs: Any) -> Any:
        return worker.run_item(*args, **kwargs)

    def run_items(self, *args: Any, **kwargs: Any) -> Any:
        return worker.run_items(*args, **kwargs)

    @ray.method(concurrency_group="watch")
    def watch(self) -> None:
        """Never returns: its call fails the moment this actor dies, even idle."""
        threading.Event().wait()


def ensure_ray(address: str | None) -> bool:
    """Connect to Ray (a cluster at `address`, else a local instance on loopback).

    Returns:
        True when this call started Ray, so the Runtime shuts it down again.
    """
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(_node_ip_address="127.0.0.1", **options)
    return True


class RayWorkerHandle:
    """A Processor's worker as a Ray actor, with the executor calls it needs."""

    def __init__(self, memory_mb: int | None, num_cpus: float = 1.0) -> None:
        # Items run one at a time in the default group; `watch` has its own thread.
        actor_class = ray.remote(
            num_cpus=num_cpus, max_restarts=0, concurrency_groups={"watch": 1}
        )(_Worker)
        self._actor = actor_class.remote(memory_mb)

    def submit(self, function: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `function(*args, **kwargs)` in the actor: `worker.run_item` or `run_items`."""
        method = getattr(self._actor, function.__name__)
        return method.remote(*args, **kwargs).future()  # type: ignore[no-any-return]

    def warm_up(self) -> Future[int]:
        return self._actor.pid.remote().future()  # type: ignore[no-any-return]

    def watch(self) -> Future[None]:
        """A future that fails when the actor dies (a local worker's pool sees that itself)."""
        return self._actor.watch.remote().future()  # type: ignore[no-any-return]

    def kill(self) -> None:
        ray.kill(self._actor, no_restart=True)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """End the actor; its process goes with it (an idle one has nothing to finish)."""
        self.kill()
