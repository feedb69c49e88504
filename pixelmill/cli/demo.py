"""`pixelmill demo`: sample images made on the spot, so a job can run anywhere."""

from __future__ import annotations

from pathlib import Path

from pixelmill.testing.images import write_sample_set

__all__ = ["prepare_demo"]


def prepare_demo(root: Path, *, count: int) -> tuple[list[str], Path]:
    """Write `count` sample images and 3 broken files under `root/inputs`.

    Returns the inputs to run and the output dir (`root/output`). Samples
    already there are reused, so a second demo starts at once.
    """
    inputs = root / "inputs"
    if not inputs.is_dir() or not any(inputs.iterdir()):
        write_sample_set(inputs, count, seed=0, broken=3)
    return [str(inputs)], root / "output"
