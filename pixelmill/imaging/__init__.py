"""Pure image work, usable alone: safe open, ops, analyses, save, and the pipeline.

No actors, no threads, no messages. Importing the package registers the
built-in ops and analyses, so `steps.op_def("thumbnail")` works from any of
its modules. Hosts reach what they need of it through `pixelmill` (`ops`,
`Step`) and `pixelmill.extend` (their own ops and analyses), not from here.
"""

from __future__ import annotations

from pixelmill.imaging import analyses, ops
from pixelmill.imaging.pipeline import ItemResult, Pipeline, estimate_memory_mb, run
from pixelmill.imaging.safe_open import ImageHeader, OpenedImage, open_image, probe

__all__ = [
    "ImageHeader",
    "ItemResult",
    "OpenedImage",
    "Pipeline",
    "analyses",
    "estimate_memory_mb",
    "open_image",
    "ops",
    "probe",
    "run",
]
