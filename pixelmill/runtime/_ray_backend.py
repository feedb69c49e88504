"""What the Runtime asks of Ray when `backend="ray"`: join (or start) it, size the workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixelmill.errors import ConfigError

if TYPE_CHECKING:
    from pixelmill.runtime.config import RuntimeConfig

__all__ = ["join_ray", "ray_available_mb"]


def join_ray(config: RuntimeConfig, *, workers_given: bool) -> tuple[RuntimeConfig, bool]:
    """Start or join Ray; size the workers from the cluster's free CPUs, not this machine's.

    Returns:
        The config with its workers sized, and whether this call started Ray
        (so that the Runtime shuts it down again).

    Raises:
        ConfigError: Ray is not installed, or no CPU of the cluster is free
            and `workers` was not given.
    """
    try:
        from pixelmill.workers import ray_worker
    except ImportError as exc:
        raise ConfigError("backend: 'ray' needs Ray: pip install 'pixelmill[ray]'") from exc
    import ray

    started = ray_worker.ensure_ray(config.ray_address)
    if workers_given:
        return config, started  # Ray queues actors beyond the free CPUs until some free up
    free_cpus = int(ray.available_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
    if free_cpus < 1:
        total = int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        raise ConfigError(
            f"backend: the Ray cluster has no free CPU ({total} in all, held by other "
            "actors or tasks); give workers=N to wait for N of them"
        )
    return config.replace(workers=free_cpus), started


def ray_available_mb() -> int:
    """The memory the cluster has free for tasks and actors, in MiB (1024 when unknown)."""
    import ray

    free = ray.available_resources().get("memory", 0)  # type: ignore[no-untyped-call]
    return int(free // 2**20) or 1024
