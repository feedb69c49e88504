"""The one public namespace for a host's own ops and analyses: define, register, receive."""

from __future__ import annotations

from pixelmill.imaging._output_paths import OutputTarget
from pixelmill.imaging._params import Param, boolean, choice, integer, number
from pixelmill.imaging.steps import (
    AnalysisDef,
    ItemContext,
    OpDef,
    register_analysis,
    register_op,
)

__all__ = [
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
]
