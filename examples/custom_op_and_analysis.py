# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""A host's own op (`sepia`) and analysis (`colorfulness`), run by pixelmill's workers."""

import csv
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixelmill import ConfigError, JobSpec, Runtime, ops
from pixelmill.extend import AnalysisDef, ItemContext, OpDef, Param, register_analysis, register_op
from pixelmill.testing import write_sample_set


def fraction(value: Any) -> float:
    """A parameter's coercer: its normal form, or a ValueError saying what was expected."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError("expected a number from 0 to 1")
    return float(value)


def sepia(image: Image.Image, params: Mapping[str, Any], ctx: ItemContext) -> Image.Image:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    tone = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    toned = np.clip(rgb @ tone.T, 0, 255)
    return Image.fromarray((rgb + params["strength"] * (toned - rgb)).astype(np.uint8))


def colorfulness(image: Image.Image, params: Mapping[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Hasler & Süsstrunk (2003): 0 for grey, above 100 for a very colourful image."""
    r, g, b = np.moveaxis(np.asarray(image.convert("RGB"), dtype=np.float64), 2, 0)
    rg, yb = r - g, (r + g) / 2 - b
    return {"value": float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))}


# 1. Register at module level, not under `if __name__ == "__main__":`: each worker
#    process runs this file's top level before its first item, so it learns them too.
register_op(OpDef(name="sepia", apply=sepia, params=(Param("strength", fraction, 1.0),)))
#    colorfulness returns one value: it goes to a results.csv column of the same
#    name. An analysis of several values would also give columns= and flatten=.
register_analysis(AnalysisDef(name="colorfulness", measure=colorfulness))

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="pixelmill-custom-") as tmp:
        inputs, out = Path(tmp) / "inputs", Path(tmp) / "out"
        write_sample_set(inputs, count=4)
        with Runtime(workers=2, state_dir=Path(tmp) / "state") as runtime:
            # 2. A bad parameter is refused at submit, by a ConfigError that names it.
            try:
                runtime.submit(JobSpec(inputs=[inputs], export_dir=out,
                                       pipeline=[{"op": "sepia", "strength": 3}]))
            except ConfigError as exc:
                print(f"ConfigError: {exc}")

            # 3. Use them like the built-ins: the op as data, the analysis by name.
            spec = JobSpec(inputs=[inputs], export_dir=out, analyses=["colorfulness"],
                           pipeline=[{"op": "sepia", "strength": 0.8}, ops.save()])
            result = runtime.submit(spec).wait(timeout=300)
        print("counts:", result.counts.as_dict())

        # 4. Each analysis adds its columns to results.csv.
        with (out / "results.csv").open(newline="") as file:
            for row in csv.DictReader(file):
                value = float(row["colorfulness"])
                print(f"{Path(row['path']).name:<16} colorfulness={value:.2f}")
