"""The lease a JobManager asks for covers what the item really uses, measured in a worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import Pipeline, estimate_memory_mb
from pixelmill.imaging.safe_open import probe
from pixelmill.testing import write_photo_like

_MEASURE = """
import re, sys
from pathlib import Path
from pixelmill.imaging import ops
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run

pipeline = Pipeline.validated(steps=[{steps}], analyses=["rgb_histogram", "channel_stats",
                                                          "luminance", "sharpness"])
out = Path(sys.argv[2])


def peak_kib():
    # VmHWM, not ru_maxrss: the latter keeps the high-water mark of the
    # process this one was forked from, across exec.
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))

run(Path(sys.argv[3]), pipeline, OutputTarget(output_dir=out, stem="warm"))  # imports, pools
before = peak_kib()
run(Path(sys.argv[1]), pipeline, OutputTarget(output_dir=out, stem="big"))
print((peak_kib() - before) / 1024)
"""


@pytest.mark.parametrize(
    ("fmt", "steps"),
    [
        ("png", "ops.thumbnail(512), ops.save(format='jpeg')"),
        ("jpeg", "ops.thumbnail(512), ops.save(format='jpeg')"),
        ("jpeg", "ops.rotate(90), ops.save(format='png')"),
    ],
)
def test_the_estimate_is_an_upper_bound_of_the_measured_peak(
    tmp_path: Path, fmt: str, steps: str
) -> None:
    big = tmp_path / f"big.{fmt}"
    write_photo_like(big, (3000, 2000), seed=1, fmt=fmt)
    warm = tmp_path / f"warm.{fmt}"
    write_photo_like(warm, (64, 48), seed=2, fmt=fmt)
    (tmp_path / "out").mkdir()
    measured_mb = float(subprocess.run(
        [sys.executable, "-c", _MEASURE.format(steps=steps), str(big), str(tmp_path / "out"),
         str(warm)],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout)
    pipeline = Pipeline.validated(
        steps=eval(f"[{steps}]", {"ops": ops}),  # noqa: S307 - the test's own literal
        analyses=["rgb_histogram", "channel_stats", "luminance", "sharpness"],
    )
    estimated_mb = estimate_memory_mb(probe(big), pipeline)
    assert estimated_mb >= measured_mb, (estimated_mb, measured_mb)
    # NOTE: an upper bound, but not a wasteful one: leases that ask for far
    # more than they use starve the pool.
    assert estimated_mb <= 4 * measured_mb + 64, (estimated_mb, measured_mb)
