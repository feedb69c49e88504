"""The `pixelmill` command line: run, demo, resume, jobs, config, logs.

One host of the Runtime among others: it knows the façade, never the actors.
"""

from __future__ import annotations

from pixelmill.cli.main import main

__all__ = ["main"]
