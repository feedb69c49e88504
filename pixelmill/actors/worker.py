"""What runs inside a worker process: the imaging pipeline, one item at a time.

This module is imported by the fork server before any worker is forked, so
it imports only what a worker needs (Pillow, numpy, the imaging package).
"""

from __future__ import annotations

import signal
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from pixelmill.errors import InternalError, PixelmillError
from pixelmill.imaging import pipeline as imaging_pipeline

if TYPE_CHECKING:
    from pathlib import Path

    from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline

__all__ = ["WorkerFailure", "init_worker", "run_item", "warm_up"]


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """An item's failure as it crosses back from the worker: a class and a message."""

    reason: str
    message: str


def init_worker() -> None:
    """Prepare a fresh worker process: Ctrl-C belongs to the host, bombs are errors."""
    # The Runtime turns Ctrl-C into a graceful drain; a worker killed by the
    # terminal's SIGINT mid-item would only turn that drain into crashes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pixel limit is the pipeline's `max_pixels`, checked on the header
    # before decoding; Pillow's own fixed limit would cut below it.
    Image.MAX_IMAGE_PIXELS = None
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def warm_up() -> int:
    """A no-op task that makes the executor start its process ahead of the first item."""
    import os

    return os.getpid()


def run_item(path: Path, pipeline: Pipeline, target: OutputTarget) -> ItemResult | WorkerFailure:
    """Run the pipeline on one file; every failure comes back classified, never raised."""
    try:
        return imaging_pipeline.run(path, pipeline, target)
    except PixelmillError as exc:
        return WorkerFailure(reason=exc.reason, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - the worker boundary: classify, never lose
        error = InternalError(f"{path}: {type(exc).__name__}: {exc}")
        return WorkerFailure(reason=error.reason, message=str(error))
