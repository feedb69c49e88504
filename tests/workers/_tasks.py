"""Tasks for the worker tests: small images through a thumbnail and a PNG save."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import OutputTarget, Pipeline
from pixelmill.workers.process import Task, TaskItem

if TYPE_CHECKING:
    from pathlib import Path

PIPELINE = Pipeline.validated(steps=[ops.thumbnail(16), ops.save(format="png")],
                              analyses=["channel_stats"])


def task(*paths: Path) -> Task:
    """One task of `paths`, written to an `out` dir beside the first."""
    out = paths[0].parent / "out"
    out.mkdir(exist_ok=True)
    items = tuple(TaskItem(path=p, target=OutputTarget(output_dir=out, stem=p.stem))
                  for p in paths)
    return Task(items=items, pipeline=PIPELINE)
