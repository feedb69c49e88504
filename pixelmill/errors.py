"""The exception tree of pixelmill, rooted at `PixelmillError`.

```
PixelmillError
├── ConfigError                 a bad key, value, step, flag or parameter
│   └── BusyJobError            job.busy: another live process runs that job
├── InputError                  the input is at fault          input.*
│   ├── NotAFileError           input.not_a_file
│   ├── NotAnImageError         input.not_image
│   ├── TruncatedImageError     input.truncated
│   ├── ImageTooLargeError      input.too_large
│   ├── UnsupportedImageError   input.unsupported
│   └── UnreadableInputError    input.unreadable
├── OutputError                 the output side is at fault    output.*
│   ├── NoSpaceError            output.no_space
│   ├── OutputPermissionError   output.permission
│   ├── OutputMissingError      output.missing
│   └── OutputConflictError     output.conflict
├── TransientIOError            may succeed when tried again   io.transient
├── ResourceError               the budget cannot hold it      resource.*
│   └── MemoryLimitError        resource.memory
├── WorkerError                 a worker process failed        worker.*
│   ├── BrokenWorkerError       worker.crashed
│   └── WorkerTimeoutError      worker.timeout
├── InternalError               a bug in pixelmill             internal.error
│   └── InjectedCrashError      internal.injected: a drill's crash, on purpose
├── JobAbortedError             the Supervisor aborted the job
├── ClosedRuntimeError          the host shut the runtime down
├── BrokenRuntimeError          runtime.broken: actors died past the restart limit
└── BusyRuntimeError            the runtime runs as many jobs as it may
```

Every class that describes an item's failure carries `reason`, a dotted class
that exports, logs and scripts group by. `reason_of` gives the reason of any
exception, so a failure never travels as a bare traceback string.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BrokenRuntimeError",
    "BrokenWorkerError",
    "BusyJobError",
    "BusyRuntimeError",
    "ClosedRuntimeError",
    "ConfigError",
    "ImageTooLargeError",
    "InjectedCrashError",
    "InputError",
    "InternalError",
    "JobAbortedError",
    "MemoryLimitError",
    "NoSpaceError",
    "NotAFileError",
    "NotAnImageError",
    "OutputConflictError",
    "OutputError",
    "OutputMissingError",
    "OutputPermissionError",
    "PixelmillError",
    "ResourceError",
    "TransientIOError",
    "TruncatedImageError",
    "UnreadableInputError",
    "UnsupportedImageError",
    "WorkerError",
    "WorkerTimeoutError",
    "error_for_reason",
    "reason_of",
]


class PixelmillError(Exception):
    """The root: a host catches every pixelmill failure with one `except`."""

    reason: ClassVar[str] = "internal.error"
    """The dotted class of the failure, for grouping (`input.truncated`)."""


class ConfigError(PixelmillError, ValueError):
    """A configuration key, job step, parameter or flag is wrong.

    The message names what was wrong, the value and what was expected.
    """

    reason = "config.invalid"


class InputError(PixelmillError):
    """The input file is at fault; retrying it cannot help."""

    reason = "input.invalid"


class NotAFileError(InputError):
    """The path is missing, a directory, a device, a socket or a FIFO."""

    reason = "input.not_a_file"


class NotAnImageError(InputError):
    """The content is not an image format pixelmill accepts."""

    reason = "input.not_image"


class TruncatedImageError(InputError):
    """The file is an image whose data is truncated or corrupt."""

    reason = "input.truncated"


class ImageTooLargeError(InputError):
    """The header claims more pixels than the configured limit allows."""

    reason = "input.too_large"


class UnsupportedImageError(InputError):
    """A valid image that the pipeline cannot handle (mode, feature, codec)."""

    reason = "input.unsupported"


class UnreadableInputError(InputError):
    """The file exists but cannot be read (permissions, I/O error)."""

    reason = "input.unreadable"


class OutputError(PixelmillError):
    """Writing an output failed for a reason that will fail every item alike."""

    reason = "output.failed"


class NoSpaceError(OutputError):
    """The output device is full."""

    reason = "output.no_space"


class OutputPermissionError(OutputError):
    """The output directory or file may not be written."""

    reason = "output.permission"


class OutputMissingError(OutputError):
    """The output directory disappeared while the job ran."""

    reason = "output.missing"


class OutputConflictError(OutputError):
    """The output would overwrite an input or land outside the output dir."""

    reason = "output.conflict"


class TransientIOError(PixelmillError):
    """An I/O error that may succeed when tried again (EIO, EAGAIN, ESTALE, ...)."""

    reason = "io.transient"


class ResourceError(PixelmillError):
    """The resource budget cannot hold the request."""

    reason = "resource.refused"


class MemoryLimitError(ResourceError):
    """The item ran out of memory; decoding it smaller (`reduce`) may pass."""

    reason = "resource.memory"


class WorkerError(PixelmillError):
    """A worker process failed while it ran an item."""

    reason = "worker.failed"


class BrokenWorkerError(WorkerError):
    """A worker process died (segfault, out-of-memory kill); `__cause__` says why."""

    reason = "worker.crashed"


class WorkerTimeoutError(WorkerError):
    """An item ran past its time limit and its worker was stopped."""

    reason = "worker.timeout"


class InternalError(PixelmillError):
    """An exception pixelmill did not expect: a bug, please report it."""

    reason = "internal.error"


class InjectedCrashError(InternalError):
    """An actor crashed on purpose: a chaos drill (`FaultPlan.actor_crash_rate`) is on."""

    reason = "internal.injected"


class JobAbortedError(PixelmillError):
    """The job was aborted; the message carries the reason class that caused it."""

    reason = "job.aborted"


class ClosedRuntimeError(PixelmillError):
    """The host shut the runtime down; it accepts no more work."""

    reason = "runtime.closed"


class BrokenRuntimeError(PixelmillError):
    """The runtime's actors died more often than the restart limit allows; it runs no
    more work. The message names the actor."""

    reason = "runtime.broken"


class BusyJobError(ConfigError):
    """The job is being run by another live process (named in the message)."""

    reason = "job.busy"


class BusyRuntimeError(PixelmillError):
    """The runtime already runs `max_jobs` jobs; submit later, or wait with `submit`."""

    reason = "runtime.busy"


def reason_of(exc: BaseException) -> str:
    """The dotted reason class of any exception; unknown ones are internal errors."""
    if isinstance(exc, PixelmillError):
        return exc.reason
    return InternalError.reason


def _all_subclasses(cls: type[PixelmillError]) -> list[type[PixelmillError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_for_reason(reason: str, message: str) -> PixelmillError:
    """Rebuild the exception of a reason class, e.g. to raise it in a host thread."""
    for cls in _all_subclasses(PixelmillError):
        if cls.reason == reason:
            return cls(message)
    return PixelmillError(f"{reason}: {message}")
