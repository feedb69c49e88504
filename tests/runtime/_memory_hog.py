"""A host op that holds memory and waits, so that a test can kill its worker near its cap.

Registered at import, as a host's ops are: worker processes import this
module (`plugins`) before their first item.
"""

from __future__ import annotations

import time
from typing import Any

from PIL import Image

from pixelmill.extend import ItemContext, OpDef, Param, integer, register_op
from pixelmill.imaging.steps import op_names


def _hog(image: Image.Image, params: Any, ctx: ItemContext) -> Image.Image:
    held = bytearray(b"\x01") * (params["mb"] << 20)  # every page written: resident
    time.sleep(params["ms"] / 1000)
    del held
    return image


if "test_hog" not in op_names():
    register_op(OpDef(name="test_hog", apply=_hog,
                      params=(Param("mb", integer(0, 10_000), default=0),
                              Param("ms", integer(0, 600_000), default=0))))
