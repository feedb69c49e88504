"""The result cache end to end: a re-run does only the work that changed.

An item that ran in a worker has a row in the store's `runs` table (one per
start); an item taken from the cache has none. So "decoded" below is counted
from the store, not from timings.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from pixelmill import JobResult, JobSpec, Runtime, ops
from pixelmill.extend import ItemContext, OpDef, register_op
from pixelmill.imaging.steps import op_names
from pixelmill.store import JobStore
from pixelmill.testing import write_image, write_sample_set

PIPELINE = [ops.thumbnail(48), ops.save(format="png")]


def _mirror(image: Image.Image, params: Any, ctx: ItemContext) -> Image.Image:
    return ImageOps.mirror(image)


if "test_cache_mirror" not in op_names():
    register_op(OpDef(name="test_cache_mirror", apply=_mirror, version="1"))


def _spec(inputs: Path, out: Path, **changes: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "inputs": [inputs], "export_dir": out, "pipeline": PIPELINE,
        "analyses": ["channel_stats", "rgb_histogram"], "name": "cached",
    }
    return JobSpec(**{**fields, **changes})


def _run(state: Path, spec: JobSpec, **config: Any) -> JobResult:
    with Runtime(workers=2, state_dir=state, **config) as runtime:
        return runtime.submit(spec).wait(timeout=120)


def _decoded(state: Path, result: JobResult) -> list[int]:
    """The indices of the job's items that ran in a worker."""
    with JobStore.in_dir(state, readonly=True) as store:
        return [i for i in range(result.counts.total) if store.runs(result.job_id, i)]


def _records(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return {record["path"]: record for record in map(json.loads, lines)}


def _mtimes(out: Path) -> dict[str, int]:
    return {path: os.stat(record["outputs"][0]).st_mtime_ns
            for path, record in _records(out).items()}


def test_an_unchanged_rerun_decodes_nothing_and_gives_the_same_results(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 6, seed=3)
    state, out = tmp_path / "state", tmp_path / "out"
    first = _run(state, _spec(tmp_path / "in", out))
    assert (first.counts.done, first.counts.cached) == (6, 0)
    fresh, written = _records(out), _mtimes(out)
    fresh_csv = (out / "results.csv").read_text()

    second = _run(state, _spec(tmp_path / "in", out))

    assert (second.counts.done, second.counts.cached, second.counts.total) == (0, 6, 6)
    assert second.ok
    assert _decoded(state, second) == []
    again = _records(out)
    assert {r["status"] for r in again.values()} == {"cached"}
    for path, record in fresh.items():
        for key in ("width", "height", "source", "analyses", "outputs"):
            assert again[path][key] == record[key], key
    assert _mtimes(out) == written, "outputs still in place are not rewritten"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["cached"] == 6
    with (out / "results.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    fresh_rows = {row["path"]: row for row in csv.DictReader(fresh_csv.splitlines())}
    assert {row["status"] for row in rows} == {"cached"}
    for row in rows:
        measured = {k: v for k, v in row.items() if k not in {"status", "duration_ms",
                                                               "attempts"}}
        assert measured == {k: fresh_rows[row["path"]][k] for k in measured}


def test_a_rerun_with_three_changed_images_decodes_exactly_those(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 8, seed=4)
    state, out = tmp_path / "state", tmp_path / "out"
    _run(state, _spec(tmp_path / "in", out))
    changed = {inputs[1], inputs[4], inputs[6]}
    for path in changed:
        with Image.open(path) as image:
            image.load()
            flipped = ImageOps.flip(image)
        flipped.save(path)

    second = _run(state, _spec(tmp_path / "in", out))

    assert (second.counts.done, second.counts.cached) == (3, 5)
    records = _records(out)
    assert {Path(p) for p, r in records.items() if r["status"] == "done"} == changed
    assert len(_decoded(state, second)) == 3


def test_the_work_fingerprint_invalidates(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 3, seed=5)
    state = tmp_path / "state"
    with_mirror = [{"op": "test_cache_mirror"}, *PIPELINE]
    assert _run(state, _spec(tmp_path / "in", tmp_path / "o", pipeline=with_mirror)
                ).counts.done == 3
    assert _run(state, _spec(tmp_path / "in", tmp_path / "o", pipeline=with_mirror)
                ).counts.cached == 3

    # An op's parameter, the output format, an analysis: each is other work.
    for changed in (
        {"pipeline": [{"op": "test_cache_mirror"}, ops.thumbnail(40), ops.save(format="png")]},
        {"pipeline": [{"op": "test_cache_mirror"}, ops.thumbnail(48), ops.save(format="webp")]},
        {"pipeline": with_mirror, "analyses": ["channel_stats"]},
    ):
        result = _run(state, _spec(tmp_path / "in", tmp_path / "o", **changed))
        assert (result.counts.done, result.counts.cached) == (3, 0), changed

    # The host bumps its op's version: what the old one made is not reused.
    register_op(OpDef(name="test_cache_mirror", apply=_mirror, version="2"), replace=True)
    try:
        result = _run(state, _spec(tmp_path / "in", tmp_path / "o", pipeline=with_mirror))
    finally:
        register_op(OpDef(name="test_cache_mirror", apply=_mirror, version="1"), replace=True)
    assert (result.counts.done, result.counts.cached) == (3, 0)


def test_a_touched_but_identical_file_is_a_hit_after_hashing(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 3, seed=6)
    state, out = tmp_path / "state", tmp_path / "out"
    _run(state, _spec(tmp_path / "in", out))
    stat = os.stat(inputs[0])
    os.utime(inputs[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    second = _run(state, _spec(tmp_path / "in", out))

    assert (second.counts.done, second.counts.cached) == (0, 3)


def test_verify_cache_sees_a_change_the_stat_fast_path_cannot(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    path = write_image(tmp_path / "in" / "a.png", size=(32, 32), color=(10, 200, 10))
    state, out = tmp_path / "state", tmp_path / "out"
    _run(state, _spec(tmp_path / "in", out))
    # Other bytes of the same size, written back with the old mtime (as a
    # restore from a backup may): device, inode, size and mtime all unchanged.
    stat = os.stat(path)
    write_image(path, size=(32, 32), color=(200, 10, 10))
    assert os.stat(path).st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    trusting = _run(state, _spec(tmp_path / "in", out))
    verified = _run(state, _spec(tmp_path / "in", out), verify_cache=True)

    assert trusting.counts.cached == 1, "the fast path trusts an unchanged stat, as git does"
    assert (verified.counts.done, verified.counts.cached) == (1, 0)
    (record,) = _records(out).values()
    assert record["analyses"]["channel_stats"]["r"]["mean"] > 150


def test_a_deleted_output_is_written_again(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 3, seed=7)
    state, out = tmp_path / "state", tmp_path / "out"
    _run(state, _spec(tmp_path / "in", out))
    victim = Path(next(iter(_records(out).values()))["outputs"][0])
    victim.unlink()

    second = _run(state, _spec(tmp_path / "in", out))

    assert (second.counts.done, second.counts.cached) == (1, 2)
    assert victim.is_file()
    with Image.open(victim) as image:
        image.verify()


def test_a_hit_for_another_export_dir_copies_the_outputs_there(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 3, seed=8)
    state = tmp_path / "state"
    _run(state, _spec(tmp_path / "in", tmp_path / "first"))

    second = _run(state, _spec(tmp_path / "in", tmp_path / "second"))

    assert (second.counts.done, second.counts.cached) == (0, 3)
    assert _decoded(state, second) == []
    for path, record in _records(tmp_path / "second").items():
        (output,) = record["outputs"]
        assert Path(output).parent == tmp_path / "second"
        first = _records(tmp_path / "first")[path]["outputs"][0]
        assert Path(output).read_bytes() == Path(first).read_bytes()


def test_no_cache_works_every_item(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 4, seed=9)
    state, out = tmp_path / "state", tmp_path / "out"
    _run(state, _spec(tmp_path / "in", out))

    by_spec = _run(state, _spec(tmp_path / "in", out, cache=False))
    by_config = _run(state, _spec(tmp_path / "in", out), cache_enabled=False)

    for result in (by_spec, by_config):
        assert (result.counts.done, result.counts.cached) == (4, 0)
        assert len(_decoded(state, result)) == 4


def test_the_cache_stays_within_max_entries(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 7, seed=10)
    state = tmp_path / "state"
    _run(state, _spec(tmp_path / "in", tmp_path / "out"), cache_max_entries=3)

    with JobStore.in_dir(state, readonly=True) as store:
        assert store.cache_stats().entries == 3
    # The three kept are the most recently used: a re-run finds exactly three.
    again = _run(state, _spec(tmp_path / "in", tmp_path / "out"), cache_max_entries=3)
    assert (again.counts.cached, again.counts.done) == (3, 4)
