"""The public surface cannot change by accident (httpx's test_exported_members).

Each public module declares its names in a sorted `__all__`, and the lists are
pinned here, so that a change to the surface is a visible change to this file.
The README and the examples, which users copy from, import nothing else.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

PUBLIC: dict[str, list[str]] = {
    "pixelmill": [
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
    ],
    "pixelmill.cli": ["main"],
    "pixelmill.errors": [
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
    ],
    "pixelmill.extend": [
        "AnalysisDef",
        "ItemContext",
        "OpDef",
        "OutputTarget",
        "Param",
        "boolean",
        "choice",
        "integer",
        "number",
        "register_analysis",
        "register_op",
    ],
    # Public as `pixelmill.ops`.
    "pixelmill.imaging.ops": [
        "autocontrast",
        "blur",
        "convert",
        "crop",
        "grayscale",
        "resize",
        "rotate",
        "save",
        "sharpen",
        "thumbnail",
    ],
    "pixelmill.logs": [
        "LEVELS",
        "ErrorGroup",
        "JobTimeline",
        "LogFilter",
        "LogPaths",
        "LogReader",
        "LogRecord",
        "LogSummary",
        "SlowItem",
        "follow",
        "parse_time",
        "read_records",
        "render_records",
        "render_summary",
        "resolve_job",
        "summarize",
    ],
    "pixelmill.metrics": ["RuntimeCollector"],
    "pixelmill.messages": [
        "FINAL_STATUSES",
        "AbandonJob",
        "AbortJob",
        "ActorRestarted",
        "BatchDone",
        "BatchItem",
        "Budget",
        "CancelJob",
        "ChildActorExited",
        "CloseExport",
        "DeadLetter",
        "DecideRecovery",
        "Degrade",
        "ExportClosed",
        "ExportFailed",
        "ExportItem",
        "ExportRecords",
        "Fail",
        "GetActor",
        "GetBudget",
        "GetMetrics",
        "HeaderRead",
        "HeadersRead",
        "IgnoredFile",
        "IgnoredFiles",
        "InjectCrash",
        "ItemDone",
        "ItemFailed",
        "ItemFinished",
        "ItemRecord",
        "ItemStatus",
        "JobAccepted",
        "JobCounts",
        "JobFinished",
        "JobOrder",
        "JobProgress",
        "JobRefused",
        "JobStatus",
        "LeaseGranted",
        "Metrics",
        "OpenExport",
        "Priority",
        "ProbeHeaders",
        "ProbeItem",
        "Process",
        "ProcessBatch",
        "ProcessorIdle",
        "RecordsExported",
        "ReleaseLease",
        "RequestLease",
        "Retry",
        "RuntimeBroken",
        "Sample",
        "SetBudget",
        "Skip",
        "SubmitJob",
        "Subscribe",
        "SupervisorExited",
        "ThresholdCleared",
        "ThresholdCrossed",
        "Watch",
        "WatchDisk",
    ],
    "pixelmill.store": [
        "HEARTBEAT_EVERY_S",
        "INTERRUPTED",
        "SCHEMA_VERSION",
        "STORE_FILE",
        "CacheEntry",
        "CacheStats",
        "FileIdentity",
        "ItemRow",
        "JobRow",
        "JobStore",
        "OutputFile",
        "Owner",
        "RunRow",
        "state_dir",
    ],
    "pixelmill.testing": [
        "Probe",
        "crash_actor",
        "is_gone",
        "live_workers",
        "make_context",
        "wait_until",
        "write_broken_files",
        "write_gradient",
        "write_image",
        "write_photo_like",
        "write_sample_set",
    ],
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _isort_order(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else.
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def _public_names(name: str) -> set[str]:
    """What a user sees in the module: its names but the private, the tools and the imports.

    Left out: names with a leading underscore; its own subpackages and
    modules, which are reached by import, not exported; what comes from outside
    pixelmill (`Any`, `queue`, `annotations`) and the `TYPE_CHECKING` flag; and
    what another public module exports (imported from its public home).
    Names imported from pixelmill's internals stay in, so that a public module
    exports each of them or keeps it out of its namespace.
    """
    module = _module(name)
    elsewhere = {
        id(getattr(_module(other), export))
        for other, exports in PUBLIC.items()
        if other != name
        for export in exports
    }
    public = set()
    for attribute in dir(module):
        if attribute.startswith("_") or attribute == "TYPE_CHECKING":
            continue
        value = getattr(module, attribute)
        if isinstance(value, ModuleType):
            own = value.__name__ == f"{name}.{attribute}"
            if own or not value.__name__.startswith("pixelmill"):
                continue
        else:
            home = getattr(value, "__module__", None)
            if isinstance(home, str) and not home.startswith("pixelmill"):
                continue
            if home is not None and id(value) in elsewhere:
                continue
        public.add(attribute)
    return public


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_the_pinned_list(name: str) -> None:
    assert _module(name).__all__ == PUBLIC[name]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_sorted(name: str) -> None:
    exports = _module(name).__all__
    assert exports == sorted(exports, key=_isort_order)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_listed_name_exists(name: str) -> None:
    module = _module(name)
    assert [export for export in module.__all__ if not hasattr(module, export)] == []


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_no_public_name_is_left_out_of_all(name: str) -> None:
    assert sorted(_public_names(name) - set(_module(name).__all__)) == []


def _has_docstring(value: Any) -> bool:
    if inspect.isclass(value):
        # A dataclass without a docstring gets its signature as one.
        doc = value.__dict__.get("__doc__") or ""
        return bool(doc) and not doc.startswith(f"{value.__name__}(")
    return bool(value.__doc__)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_exported_class_function_and_module_has_a_docstring(name: str) -> None:
    module = _module(name)
    undocumented = []
    for export in module.__all__:
        value = getattr(module, export)
        kinds = (inspect.isclass, inspect.isfunction, inspect.ismodule)
        if any(kind(value) for kind in kinds) and not _has_docstring(value):
            undocumented.append(export)
    assert undocumented == []


def _user_code() -> list[tuple[str, str]]:
    """The Python a user copies: the README's python blocks and the examples."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    code = [(f"README.md python block {n}", block) for n, block in enumerate(blocks, 1)]
    code += [(path.name, path.read_text()) for path in sorted((ROOT / "examples").glob("*.py"))]
    return code


def _imports(source: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in `source`; [] for a plain import."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_readme_and_examples_import_only_public_modules_and_names() -> None:
    wrong = []
    for where, source in _user_code():
        for module, names in _imports(source):
            if module.split(".")[0] != "pixelmill":
                continue
            if any(part.startswith("_") for part in module.split(".")) or module not in PUBLIC:
                wrong.append(f"{where}: {module} is not a public module")
                continue
            wrong += [
                f"{where}: {module}.{name} is not in its __all__"
                for name in names
                if name not in PUBLIC[module]
            ]
    assert wrong == []


def test_the_import_check_reads_the_readme_and_the_examples() -> None:
    modules = {module for _, source in _user_code() for module, _ in _imports(source)}
    assert {"pixelmill", "pixelmill.extend", "pixelmill.messages"} <= modules


def test_a_worker_imports_the_pipeline_without_the_runtime() -> None:
    # Worker processes start faster for it (the fork server imports this module).
    code = (
        "import sys, pixelmill.workers.process; "
        "print(sorted(m for m in sys.modules if m.startswith(('pixelmill.runtime', 'structlog'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_importing_pixelmill_configures_no_logging() -> None:
    import logging

    import structlog

    assert not structlog.is_configured()
    assert logging.getLogger().handlers == [] or all(
        "pytest" in type(h).__module__ or "_pytest" in type(h).__module__
        for h in logging.getLogger().handlers
    )
