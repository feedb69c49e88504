"""A job over the hostile corpus: one failed item of the right class per bad file, fast."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from pixelmill import JobSpec, JobStatus, Runtime, ops
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing.hostile import write_hostile_corpus


def test_the_hostile_corpus_ends_each_file_once_with_the_right_outcome(tmp_path: Path) -> None:
    corpus = write_hostile_corpus(tmp_path / "hostile")
    files = [*corpus.bad, *corpus.good]
    spec = JobSpec(
        inputs=[str(path) for path in files],
        export_dir=tmp_path / "out",
        pipeline=[ops.thumbnail(64), ops.save(format="jpeg")],
        analyses=["rgb_histogram", "channel_stats", "luminance", "sharpness", "metadata"],
        # Six good files have the same bytes, past the first lookahead: one done and
        # committed before another is probed would end that one `cached`, not `done`.
        cache=False,
    )
    # Most of the corpus's first items are bad on purpose: that is not systemic here.
    with Runtime(workers=2, recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        # A bounded wait: a hostile corpus must not stall the runtime.
        result = runtime.submit(spec).wait(timeout=120)
    assert result.status is JobStatus.COMPLETED
    assert result.counts.total == len(files)

    records = {
        r["path"]: r
        for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())
    }
    assert len(records) == len(files), "each input ends exactly once"
    for path, reason in corpus.bad.items():
        if path in corpus.readable_anyway:
            continue
        record = records[str(path)]
        assert (record["status"], record["reason"]) == ("skipped", reason), path.name
        assert record["message"]
    for path in corpus.good:
        record = records[str(path)]
        assert record["status"] == "done", (path.name, record["reason"], record["message"])
        with Image.open(record["outputs"][0]) as output:
            output.load()
            assert output.format == "JPEG"
