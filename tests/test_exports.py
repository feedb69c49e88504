"""The public surface cannot change by accident (httpx's test_exported_members)."""

from __future__ import annotations

import subprocess
import sys

import pixelmill

_SUBMODULES = {
    "errors", "imaging", "runtime", "actors", "report", "store",
    "testing", "cli", "logs",
}
_TOOLS = {"Any", "TYPE_CHECKING", "importlib"}  # what pixelmill/__init__ itself uses


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {
        name
        for name in dir(pixelmill)
        if not name.startswith("_") and name not in _SUBMODULES | _TOOLS
    }
    assert sorted(pixelmill.__all__) == pixelmill.__all__
    assert set(pixelmill.__all__) == public


def test_a_worker_imports_the_pipeline_without_the_runtime() -> None:
    # Worker processes start faster for it (the fork server imports this module).
    code = (
        "import sys, pixelmill.actors.worker; "
        "print(sorted(m for m in sys.modules if m.startswith(('pixelmill.runtime', 'structlog'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_every_public_name_has_a_docstring() -> None:
    for name in pixelmill.__all__:
        assert getattr(pixelmill, name).__doc__, name


def test_importing_pixelmill_configures_no_logging() -> None:
    import logging

    import structlog

    assert not structlog.is_configured()
    assert logging.getLogger().handlers == [] or all(
        "pytest" in type(h).__module__ or "_pytest" in type(h).__module__
        for h in logging.getLogger().handlers
    )
