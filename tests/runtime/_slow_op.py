"""A host op that takes its time, so that a test can act while a job runs.

Registered at import, as a host's ops are: worker processes import this
module (`plugins`) before their first item.
"""

from __future__ import annotations

import time
from typing import Any

from PIL import Image

from pixelmill.extend import ItemContext, OpDef, Param, integer, register_op
from pixelmill.imaging.steps import op_names


def _pause(image: Image.Image, params: Any, ctx: ItemContext) -> Image.Image:
    time.sleep(params["ms"] / 1000)
    return image


if "test_pause" not in op_names():
    register_op(OpDef(name="test_pause", apply=_pause,
                      params=(Param("ms", integer(0, 10_000), default=20),)))
