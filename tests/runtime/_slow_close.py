"""A plugin that holds an export's close open, so that a test can kill the process there.

Loaded with `--plugin` into a `pixelmill` process: when a job's summary is
about to be written (its CSV and JSON lines are complete, not yet renamed), it
drops a marker file next to the export dir and waits.
"""

from __future__ import annotations

import time
from typing import Any

from pixelmill.actors import exporter

_write_summary = exporter._write_summary  # noqa: SLF001 - test instrumentation


def _held(export: Any, summary: Any) -> None:
    (export.directory.parent / "closing").write_text("now")
    time.sleep(60)
    _write_summary(export, summary)


exporter._write_summary = _held  # noqa: SLF001
