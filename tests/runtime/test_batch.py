"""`run_batch`: one call runs one job in a Runtime of its own."""

from __future__ import annotations

from pathlib import Path

import pykka

from pixelmill import RuntimeConfig, ops, run_batch
from pixelmill.testing import write_sample_set


def test_run_batch_runs_a_job_and_leaves_no_actor_behind(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 3, seed=7, broken=1)
    result = run_batch(
        inputs,
        export_dir=tmp_path / "out",
        pipeline=[ops.thumbnail(16), ops.save(format="png")],
        analyses=["luminance"],
        config=RuntimeConfig(workers=1),
        timeout=60,
    )
    assert result.counts.as_dict() == {
        "total": 4, "done": 3, "cached": 0, "failed": 0, "skipped": 1, "cancelled": 0,
    }
    assert result.summary_path is not None and result.summary_path.exists()
    assert pykka.ActorRegistry.get_all() == []
