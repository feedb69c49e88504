"""`run_batch`: one job in one call, in a Runtime of its own (httpx's one-shot tier)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelmill.runtime.runtime import Runtime
from pixelmill.runtime.spec import JobSpec

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from pixelmill.runtime.config import RuntimeConfig
    from pixelmill.runtime.handle import JobResult

__all__ = ["run_batch"]


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    export_dir: str | os.PathLike[str],
    pipeline: Sequence[Any] = (),
    analyses: Sequence[Any] = (),
    config: RuntimeConfig | None = None,
    timeout: float | None = None,
) -> JobResult:
    """Run one job in a Runtime of its own, wait for it, shut down, return its result.

    Raises:
        ConfigError: a step, parameter or setting is invalid.
        TimeoutError: the job did not end within `timeout` seconds (it is cancelled).
    """
    with Runtime(config) as runtime:
        spec = JobSpec(inputs=inputs, export_dir=export_dir, pipeline=pipeline, analyses=analyses)
        return runtime.submit(spec).wait(timeout)
