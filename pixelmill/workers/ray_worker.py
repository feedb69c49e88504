"""A worker as a Ray actor: the same pipeline, on any node of a cluster; and joining Ray.

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

from pixelmill.workers import process
from pixelmill.workers._broken import broken_on

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pixelmill.workers.faults import FaultPlan
    from pixelmill.workers.process import Outcome, ProbeTask, Task
    from pixelmill.workers.settings import WorkerSettings

__all__ = ["RayWorker", "ensure_ray"]

_CLUSTER_SWITCH = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR  # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER

_DEATHS: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError,
    ray.exceptions.WorkerCrashedError,
)
"""What a future of an actor that died raises."""


class _Worker:
    """The Ray actor: one worker process, prepared as a local one is but for the memory cap.

    Tests find its processes by this class's name (`ray::_Worker`).
    """

    def __init__(self) -> None:
        # No address-space cap here: a Ray worker maps the object store, far
        # beyond any per-item cap; Ray's own memory monitor guards the node.
        process.init_worker(None)

    def pid(self) -> int:
        return process.warm_up()

    def run_task(
        self, task: Task | ProbeTask, *, faults: FaultPlan | None, min_free_mb: int
    ) -> list[Outcome]:
        return process.run_task(task, faults=faults, min_free_mb=min_free_mb)

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


class RayWorker:
    """A `WorkerBackend`: one Ray actor, with the CPU of one item.

    The actor cannot be restarted (`max_restarts=0`); a second call, `watch`, runs in its own
    thread and fails the moment the actor dies, which is `died`.
    """

    def __init__(self, settings: WorkerSettings, num_cpus: float = 1.0) -> None:
        """Create the actor (in the caller's thread; it does not wait for a free CPU)."""
        self._settings = settings
        # Items run one at a time in the default group; `watch` has its own thread.
        actor_class = ray.remote(  # type: ignore[call-overload]  # the stub lacks actor options
            num_cpus=num_cpus, max_restarts=0, concurrency_groups={"watch": 1}
        )(_Worker)
        self._actor = actor_class.remote()
        self.started: Future[int] = broken_on(_DEATHS, self._actor.pid.remote().future())
        self.died: Future[None] = broken_on(_DEATHS, self._actor.watch.remote().future())

    def submit(self, task: Task | ProbeTask) -> Future[list[Outcome]]:
        call = self._actor.run_task.remote(
            task, faults=self._settings.faults, min_free_mb=self._settings.min_free_mb
        )
        return broken_on(_DEATHS, call.future())

    def exit_signal(self) -> int | None:
        """Unknown: Ray reports an actor's death, not its signal."""
        return None

    def kill(self) -> None:
        ray.kill(self._actor, no_restart=True)

    def shutdown(self, *, wait: bool) -> None:
        """End the actor; its process goes with it (a Processor waits only when it is idle)."""
        self.kill()
