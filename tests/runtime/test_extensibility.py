"""A host's own op and analysis, registered at import, work in worker processes too."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

from pixelmill import ConfigError, JobSpec, Runtime, ops
from pixelmill.extend import (
    AnalysisDef,
    ItemContext,
    OpDef,
    Param,
    number,
    register_analysis,
    register_op,
)
from pixelmill.imaging.steps import op_names
from pixelmill.runtime.spec import plugins_of
from pixelmill.testing import write_image


def _invert(image: Image.Image, params: Any, ctx: ItemContext) -> Image.Image:
    inverted = ImageOps.invert(image.convert("RGB"))
    return Image.blend(image.convert("RGB"), inverted, params["amount"])


def _red_share(image: Image.Image, params: Any, ctx: ItemContext) -> dict[str, Any]:
    r, g, b = (sum(i * n for i, n in enumerate(image.convert("RGB").histogram()[k:k + 256]))
               for k in (0, 256, 512))
    return {"share": round(r / max(1, r + g + b), 4)}


def _sometimes_two(image: Image.Image, params: Any, ctx: ItemContext) -> dict[str, Any]:
    if ctx.path.name.startswith("two"):
        return {"share": 0.5, "extra": 1}
    return {"share": 0.5}


# Registered at import: a worker process imports this module before its first item.
if "test_invert" not in op_names():
    register_op(OpDef(name="test_invert", apply=_invert,
                      params=(Param("amount", number(0.0, 1.0), default=1.0),)))
    register_analysis(AnalysisDef(
        name="test_red_share", measure=_red_share,
        columns=lambda params: ["red_share"],
        flatten=lambda result: {"red_share": result["share"]},
    ))
    # One-value analyses: no columns, no flatten.
    register_analysis(AnalysisDef(name="test_red_fraction", measure=_red_share))
    register_analysis(AnalysisDef(name="test_sometimes_two", measure=_sometimes_two))
    # Buggy flattening, as a host's may be.
    register_analysis(AnalysisDef(
        name="test_flatten_raises", measure=_sometimes_two,
        columns=lambda params: ["share"],
        flatten=lambda result: {"share": result["extra"]},
    ))
    register_analysis(AnalysisDef(
        name="test_flatten_undeclared", measure=_sometimes_two,
        columns=lambda params: ["share"],
        flatten=lambda result: dict(result),
    ))
    register_analysis(AnalysisDef(
        name="test_columns_raise", measure=_red_share,
        columns=lambda params: [params["missing"]],
        flatten=lambda result: {"share": result["share"]},
    ))


def _spec(tmp_path: Path, pipeline: list[Any]) -> JobSpec:
    (tmp_path / "in").mkdir(exist_ok=True)
    write_image(tmp_path / "in" / "red.png", size=(16, 16), color=(255, 0, 0))
    return JobSpec(inputs=[tmp_path / "in"], export_dir=tmp_path / "out", pipeline=pipeline,
                   analyses=["test_red_share"])


def test_the_pipeline_names_the_module_workers_must_load(tmp_path: Path) -> None:
    order = _spec(tmp_path, [{"op": "test_invert"}]).to_order(job_id="j", max_pixels=10**6)
    assert order.plugins == (__name__,)


def test_a_host_op_and_analysis_run_in_workers_and_reach_the_csv(tmp_path: Path) -> None:
    spec = _spec(tmp_path, [{"op": "test_invert", "amount": 1.0},
                            ops.save(format="png")])
    with Runtime(workers=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    assert result.counts.done == 1, result
    (record,) = [json.loads(line)
                 for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert record["analyses"]["test_red_share"] == {"share": 0.0}  # red inverted is cyan
    with Image.open(record["outputs"][0]) as output:
        assert output.convert("RGB").getpixel((0, 0)) == (0, 255, 255)
    assert "red_share" in (tmp_path / "out" / "results.csv").read_text().splitlines()[0]


def test_a_bad_parameter_of_a_host_op_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="amount"):
        _spec(tmp_path, [{"op": "test_invert", "amount": 3}]).to_order(
            job_id="j", max_pixels=10**6
        )


def test_built_in_steps_need_no_plugin(tmp_path: Path) -> None:
    order = _spec(tmp_path, [ops.thumbnail(8)]).to_order(job_id="j", max_pixels=10**6)
    assert plugins_of(order.pipeline) == (__name__,)  # only the host analysis


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_a_one_value_analysis_needs_no_columns_or_flatten(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "red.png", size=(16, 16), color=(255, 0, 0))
    spec = JobSpec(inputs=[tmp_path / "in"], export_dir=tmp_path / "out",
                   analyses=["test_red_fraction"])
    with Runtime(workers=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    assert result.counts.done == 1, result
    (record,) = _records(tmp_path / "out")
    assert record["analyses"]["test_red_fraction"] == {"share": 1.0}
    with (tmp_path / "out" / "results.csv").open(newline="") as file:
        (row,) = csv.DictReader(file)
    assert row["test_red_fraction"] == "1.0"


def test_a_one_value_analysis_returning_two_values_fails_only_that_item(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("one_a.png", "two.png", "one_b.png"):
        write_image(tmp_path / "in" / name, size=(8, 8))
    spec = JobSpec(inputs=[tmp_path / "in"], export_dir=tmp_path / "out",
                   analyses=["test_sometimes_two"])
    with Runtime(workers=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    assert (result.counts.done, result.counts.failed) == (2, 1), result
    by_name = {Path(record["path"]).name: record for record in _records(tmp_path / "out")}
    failed = by_name["two.png"]
    assert (failed["status"], failed["reason"]) == ("failed", "internal.error")
    assert failed["message"].endswith(
        "analysis 'test_sometimes_two' returned 2 values; a one-value analysis returns one,"
        " or give columns and flatten"
    )
    assert by_name["one_a.png"]["analyses"] == {"test_sometimes_two": {"share": 0.5}}
    with (tmp_path / "out" / "results.csv").open(newline="") as file:
        values = {Path(row["path"]).name: row["test_sometimes_two"] for row in csv.DictReader(file)}
    assert values == {"one_a.png": "0.5", "two.png": "", "one_b.png": "0.5"}


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ("test_flatten_raises", "flatten failed: KeyError: 'extra'"),
        ("test_flatten_undeclared", "flatten gave columns that columns() does not declare: extra"),
    ],
)
def test_an_analysis_that_cannot_be_flattened_fails_its_item_not_the_export(
    tmp_path: Path, analysis: str, message: str
) -> None:
    (tmp_path / "in").mkdir()
    for name in ("one_a.png", "two.png"):
        write_image(tmp_path / "in" / name, size=(8, 8))
    spec = JobSpec(inputs=[tmp_path / "in"], export_dir=tmp_path / "out", analyses=[analysis])
    with Runtime(workers=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    by_name = {Path(record["path"]).name: record for record in _records(tmp_path / "out")}
    broken = "one_a.png" if analysis == "test_flatten_raises" else "two.png"
    assert by_name[broken]["status"] == "failed"
    assert by_name[broken]["reason"] == "internal.error"
    assert message in by_name[broken]["message"]
    assert f"({analysis})" in by_name[broken]["message"]
    assert result.counts.done == 1
    assert (tmp_path / "out" / "results.csv").exists()


def test_an_analysis_whose_columns_raise_aborts_the_job_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for index in range(40):
        write_image(tmp_path / "in" / f"{index}.png", size=(8, 8))
    spec = JobSpec(inputs=[tmp_path / "in"], export_dir=tmp_path / "out",
                   analyses=["test_columns_raise"])
    with Runtime(workers=1) as runtime:
        result = runtime.submit(spec).wait(timeout=60)
    assert result.status.value == "aborted"
    assert result.reason == "internal.error"
    assert "test_columns_raise" in (result.message or "")
    # Stopped as soon as its export failed to open, not after running every item.
    assert result.counts.done < 40
    assert result.counts.skipped + result.counts.cancelled > 0
