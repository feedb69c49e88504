"""pixelmill: an embeddable actor runtime for batch image jobs.

Three tiers, as httpx has them: `run_batch()` for one job in one call; a
`Runtime` to embed, submitting `JobSpec`s and following `JobHandle`s; and
the actors and typed messages beneath (`pixelmill.actors`,
`pixelmill.messages`). Importing pixelmill configures no logging.
"""

from pixelmill import messages
from pixelmill.errors import (
    BrokenWorkerError,
    BusyRuntimeError,
    ClosedRuntimeError,
    ConfigError,
    ImageTooLargeError,
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
from pixelmill.imaging import ops
from pixelmill.imaging.steps import Step
from pixelmill.messages import ItemStatus, JobStatus, Priority
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult
from pixelmill.runtime.runtime import Runtime, run_batch
from pixelmill.runtime.spec import JobSpec

__all__ = [
    "BrokenWorkerError",
    "BusyRuntimeError",
    "ClosedRuntimeError",
    "ConfigError",
    "ImageTooLargeError",
    "InputError",
    "InternalError",
    "ItemStatus",
    "JobAbortedError",
    "JobEvent",
    "JobHandle",
    "JobResult",
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
    "Step",
    "TransientIOError",
    "TruncatedImageError",
    "UnreadableInputError",
    "UnsupportedImageError",
    "WorkerError",
    "WorkerTimeoutError",
    "messages",
    "ops",
    "run_batch",
]
