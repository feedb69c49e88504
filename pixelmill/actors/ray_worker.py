"""The Ray backend's worker: the same pipeline, in a Ray actor on any node of a cluster.

Imported only when a Runtime runs with `backend="ray"`; `pip install
'pixelmill[ray]'` brings Ray. Only paths and small records travel: inputs are
read from, and outputs written to, paths every node can reach.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import ray
from ray._private import ray_constants

from pixelmill.actors import worker

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["RayWorkerHandle", "dead_worker_errors", "ensure_ray"]

_CLUSTER_SWITCH = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR  # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER

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
        with _loopback_only():
            ray.init(_node_ip_address="127.0.0.1", **options)
    return True


@contextlib.contextmanager
def _loopback_only() -> Iterator[None]:
    """Keep a local Ray instance on 127.0.0.1, listening on no other address.

    On Linux, Ray turns a node address of 127.0.0.1 into the machine's
    network address, and its servers listen there for other nodes. Its
    single-machine mode (the default on macOS and Windows, switched by
    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`) keeps every server on loopback. The
    variable is read by Ray's processes as they start (set here for those
    `ray.init` starts) and by the driver at `import ray` (hence the constant).
    """
    previous_env = os.environ.get(_CLUSTER_SWITCH)
    previous_constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous_constant
        if previous_env is None:
            os.environ.pop(_CLUSTER_SWITCH, None)
        else:
            os.environ[_CLUSTER_SWITCH] = previous_env


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
