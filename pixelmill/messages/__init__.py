"""Typed, immutable messages: the only thing pixelmill's actors share.

One module per conversation: `jobs`, `work`, `resources`, `monitoring`,
`export`, `supervision`. Every message is picklable and holds no live object
but actor refs, so processors can run in other processes or on other machines.
"""

from pixelmill.messages.export import CloseExport, ExportClosed, ExportItem, OpenExport
from pixelmill.messages.jobs import (
    CancelJob,
    GetProgress,
    ItemFinished,
    ItemStatus,
    JobAccepted,
    JobCounts,
    JobFinished,
    JobOrder,
    JobProgress,
    JobStatus,
    Priority,
    SubmitJob,
)
from pixelmill.messages.monitoring import GetMetrics, Metrics, Sample
from pixelmill.messages.resources import (
    Budget,
    GetBudget,
    LeaseGranted,
    ReleaseLease,
    RequestLease,
)
from pixelmill.messages.supervision import (
    AbortJob,
    ActorRestarted,
    ChildActorExited,
    DeadLetter,
    DecideRecovery,
    Fail,
    GetActor,
    Retry,
    RuntimeBroken,
    Skip,
    Watch,
)
from pixelmill.messages.work import ItemDone, ItemFailed, Process, ProcessorIdle

__all__ = [
    "AbortJob",
    "ActorRestarted",
    "Budget",
    "CancelJob",
    "ChildActorExited",
    "CloseExport",
    "DeadLetter",
    "DecideRecovery",
    "ExportClosed",
    "ExportItem",
    "Fail",
    "GetActor",
    "GetBudget",
    "GetMetrics",
    "GetProgress",
    "ItemDone",
    "ItemFailed",
    "ItemFinished",
    "ItemStatus",
    "JobAccepted",
    "JobCounts",
    "JobFinished",
    "JobOrder",
    "JobProgress",
    "JobStatus",
    "LeaseGranted",
    "Metrics",
    "OpenExport",
    "Priority",
    "Process",
    "ProcessorIdle",
    "ReleaseLease",
    "RequestLease",
    "Retry",
    "RuntimeBroken",
    "Sample",
    "Skip",
    "SubmitJob",
    "Watch",
]
