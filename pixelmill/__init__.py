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
from pixelmill.imaging._params import Param, boolean, choice, integer, number
from pixelmill.imaging.steps import (
    AnalysisDef,
    ItemContext,
    OpDef,
    Step,
    register_analysis,
    register_op,
)
from pixelmill.messages import (
    ItemFinished,
    ItemStatus,
    JobFinished,
    JobProgress,
    JobStatus,
    Priority,
)
from pixelmill.runtime.batch import run_batch
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult
from pixelmill.runtime.runtime import Runtime
from pixelmill.runtime.spec import JobSpec
from pixelmill.store import JobRow

__all__ = [
    "AnalysisDef",
    "BrokenWorkerError",
    "BusyRuntimeError",
    "ClosedRuntimeError",
    "ConfigError",
    "ImageTooLargeError",
    "InputError",
    "InternalError",
    "ItemContext",
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
    "OpDef",
    "OutputConflictError",
    "OutputError",
    "OutputMissingError",
    "OutputPermissionError",
    "Param",
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
    "boolean",
    "choice",
    "integer",
    "messages",
    "number",
    "ops",
    "register_analysis",
    "register_op",
    "run_batch",
]
