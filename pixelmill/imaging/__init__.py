"""Pure image work, usable alone: safe open, ops, analyses, save, and the pipeline.

No actors, no threads, no messages. Importing the package registers the
built-in ops and analyses, so `steps.op_def("thumbnail")` works from any of
its modules.
"""

from __future__ import annotations

from pixelmill.imaging import analyses, ops
from pixelmill.imaging.pipeline import ItemResult, OutputTarget, Pipeline, estimate_memory_mb, run
from pixelmill.imaging.safe_open import ImageHeader, OpenedImage, open_image, probe
from pixelmill.imaging.steps import (
    AnalysisDef,
    OpDef,
    Step,
    register_analysis,
    register_op,
    validate_step,
)

__all__ = [
    "AnalysisDef",
    "ImageHeader",
    "ItemResult",
    "OpDef",
    "OpenedImage",
    "OutputTarget",
    "Pipeline",
    "Step",
    "analyses",
    "estimate_memory_mb",
    "open_image",
    "ops",
    "probe",
    "register_analysis",
    "register_op",
    "run",
    "validate_step",
]
