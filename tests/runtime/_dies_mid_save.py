"""A host op whose worker is killed while it saves, once per input.

Registered at import, as a host's ops are: worker processes import this
module (`plugins`) before their first item. On an input's first attempt it
starts an atomic write into the output directory and SIGKILLs its own
process in the middle of it, as a crash or a replaced pool does; it leaves
`{input}.killed` beside the input so the retry goes through.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from PIL import Image

from pixelmill.extend import ItemContext, OpDef, register_op
from pixelmill.imaging.atomic import open_atomic
from pixelmill.imaging.steps import op_names


def _die_mid_save_once(image: Image.Image, params: Any, ctx: ItemContext) -> Image.Image:
    marker = ctx.path.with_name(ctx.path.name + ".killed")
    if ctx.target is None or ctx.target.output_dir is None or marker.exists():
        return image
    marker.touch()
    ctx.target.output_dir.mkdir(parents=True, exist_ok=True)
    with open_atomic(ctx.target.output_dir / f"{ctx.target.stem}.png") as stream:
        stream.write(b"half a png")
        stream.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return image


if "test_die_mid_save" not in op_names():
    register_op(OpDef(name="test_die_mid_save", apply=_die_mid_save_once))
