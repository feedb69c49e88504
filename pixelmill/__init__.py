"""pixelmill: an embeddable actor runtime for batch image jobs.

Three tiers, as httpx has them: `run_batch()` for one job in one call; a
`Runtime` to embed, submitting `JobSpec`s and following `JobHandle`s (or its
async twin `AsyncRuntime`, for asyncio and trio hosts); and
the actors and typed messages beneath (`pixelmill.actors`,
`pixelmill.messages`). A host's own ops and analyses are defined and
registered through `pixelmill.extend`, as trio keeps its extension points in
`trio.lowlevel`. Importing pixelmill configures no logging.
"""

import importlib
from typing import TYPE_CHECKING, Any

from pixelmill.errors import (
    BrokenRuntimeError,
    BrokenWorkerError,
    BusyJobError,
    BusyRuntimeError,
    ClosedRuntimeError,
    ConfigError,
    ImageTooLargeError,
    InjectedCrashError,
    InputError,
    InternalError,
    JobAbortedError,
    MemoryLimitError,
    NoSpaceError,
    NotAFileError,
    NotAnImageError,
    OutputConflictError,
    OutputError,
    OutputMissingError,
    OutputPermissionError,
    PixelmillError,
    ResourceError,
    TransientIOError,
    TruncatedImageError,
    UnreadableInputError,
    UnsupportedImageError,
    WorkerError,
    WorkerTimeoutError,
)

if TYPE_CHECKING:
    from pixelmill import extend, messages
    from pixelmill.imaging import ops
    from pixelmill.imaging.steps import Step
    from pixelmill.messages import (
        ItemFinished,
        ItemStatus,
        JobFinished,
        JobProgress,
        JobStatus,
        Priority,
    )
    from pixelmill.runtime.async_runtime import AsyncJobHandle, AsyncRuntime
    from pixelmill.runtime.batch import run_batch
    from pixelmill.runtime.config import RuntimeConfig
    from pixelmill.runtime.config_file import Settings, load_settings, settings_from_dict
    from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult
    from pixelmill.runtime.runtime import Runtime
    from pixelmill.runtime.spec import JobSpec
    from pixelmill.runtime.statistics import RuntimeStatistics
    from pixelmill.store import JobRow
    from pixelmill.workers.faults import FaultPlan, FaultTarget

# Everything but the errors is imported on first use: a worker process (which
# imports `pixelmill.workers.process`) and the command line's start-up load only
# what they touch, not the whole runtime.
_LAZY: dict[str, str] = {
    "extend": "pixelmill.extend",
    "messages": "pixelmill.messages",
    "ops": "pixelmill.imaging",
    "Step": "pixelmill.imaging.steps",
    "ItemFinished": "pixelmill.messages",
    "ItemStatus": "pixelmill.messages",
    "JobFinished": "pixelmill.messages",
    "JobProgress": "pixelmill.messages",
    "JobStatus": "pixelmill.messages",
    "Priority": "pixelmill.messages",
    "run_batch": "pixelmill.runtime.batch",
    "AsyncJobHandle": "pixelmill.runtime.async_runtime",
    "AsyncRuntime": "pixelmill.runtime.async_runtime",
    "RuntimeStatistics": "pixelmill.runtime.statistics",
    "RuntimeConfig": "pixelmill.runtime.config",
    "JobEvent": "pixelmill.runtime.handle",
    "JobHandle": "pixelmill.runtime.handle",
    "JobResult": "pixelmill.runtime.handle",
    "Runtime": "pixelmill.runtime.runtime",
    "JobSpec": "pixelmill.runtime.spec",
    "JobRow": "pixelmill.store",
    "FaultPlan": "pixelmill.workers.faults",
    "FaultTarget": "pixelmill.workers.faults",
    "Settings": "pixelmill.runtime.config_file",
    "load_settings": "pixelmill.runtime.config_file",
    "settings_from_dict": "pixelmill.runtime.config_file",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        msg = f"module 'pixelmill' has no attribute {name!r}"
        raise AttributeError(msg)
    module = importlib.import_module(module_name)
    value = module if module_name == f"pixelmill.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AsyncJobHandle",
    "AsyncRuntime",
    "BrokenRuntimeError",
    "BrokenWorkerError",
    "BusyJobError",
    "BusyRuntimeError",
    "ClosedRuntimeError",
    "ConfigError",
    "FaultPlan",
    "FaultTarget",
    "ImageTooLargeError",
    "InjectedCrashError",
    "InputError",
    "InternalError",
    "ItemFinished",
    "ItemStatus",
    "JobAbortedError",
    "JobEvent",
    "JobFinished",
    "JobHandle",
    "JobProgress",
    "JobResult",
    "JobRow",
    "JobSpec",
    "JobStatus",
    "MemoryLimitError",
    "NoSpaceError",
    "NotAFileError",
    "NotAnImageError",
    "OutputConflictError",
    "OutputError",
    "OutputMissingError",
    "OutputPermissionError",
    "PixelmillError",
    "Priority",
    "ResourceError",
    "Runtime",
    "RuntimeConfig",
    "RuntimeStatistics",
    "Settings",
    "Step",
    "TransientIOError",
    "TruncatedImageError",
    "UnreadableInputError",
    "UnsupportedImageError",
    "WorkerError",
    "WorkerTimeoutError",
    "extend",
    "load_settings",
    "messages",
    "ops",
    "run_batch",
    "settings_from_dict",
]
