"""The formats setting end to end: config, job file and JobSpec, and how items end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from pixelmill import ConfigError, JobSpec, JobStatus, Runtime, RuntimeConfig, ops
from pixelmill.actors._inputs import expand_inputs
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.imaging.formats import DEFAULT_FORMATS
from pixelmill.runtime.config_file import effective_config, settings_from_dict
from pixelmill.runtime.job_file import load_job_file

pillow_heif.register_heif_opener()  # so that Pillow writes HEIC files here


def _write_inputs(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True)
    image = Image.new("RGB", (48, 32), (200, 40, 40))
    paths = {name: directory / name for name in (
        "photo.heic", "photo.avif", "photo.qoi", "photo.png", "drawing.eps", "paper.pdf",
        "noise.jpg",
    )}
    image.save(paths["photo.heic"], "HEIF")
    image.save(paths["photo.avif"], "AVIF")
    image.save(paths["photo.qoi"], "QOI")
    image.save(paths["photo.png"], "PNG")
    paths["drawing.eps"].write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
    paths["paper.pdf"].write_bytes(b"%PDF-1.4\n%%EOF\n")
    paths["noise.jpg"].write_bytes(np.random.default_rng(5).bytes(2048))
    return paths


def _records(export_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (export_dir / "results.jsonl").read_text().splitlines()
    return {Path(record["path"]).name: record for record in map(json.loads, lines)}


def _spec(inputs: list[Path] | list[str], export_dir: Path, **extra: Any) -> JobSpec:
    return JobSpec(inputs=[str(p) for p in inputs], export_dir=export_dir,
                   pipeline=[ops.thumbnail(16)], analyses=["luminance"], **extra)


def test_by_default_heic_avif_and_the_rest_run_and_eps_pdf_and_noise_are_skipped(
    tmp_path: Path,
) -> None:
    paths = _write_inputs(tmp_path / "in")
    # Most of the items are bad on purpose: that is not systemic here.
    with Runtime(workers=1, recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        result = runtime.submit(_spec(list(paths.values()), tmp_path / "out")).wait(timeout=60)
    assert result.status is JobStatus.COMPLETED
    records = _records(tmp_path / "out")
    for name in ("photo.heic", "photo.avif", "photo.qoi", "photo.png"):
        assert records[name]["status"] == "done", records[name]["message"]
    for name, fmt in (("drawing.eps", "EPS"), ("paper.pdf", "PDF")):
        record = records[name]
        assert (record["status"], record["reason"]) == ("skipped", "input.unsupported")
        assert record["message"].startswith(f"{paths[name]}: {fmt} ")
        assert "formats" in record["message"]
    assert (records["noise.jpg"]["status"], records["noise.jpg"]["reason"]) == (
        "skipped", "input.not_image",
    )


def test_narrowing_the_runtimes_formats_skips_png_unless_the_job_lists_it(
    tmp_path: Path,
) -> None:
    paths = _write_inputs(tmp_path / "in")
    inputs = [paths["photo.png"], paths["photo.heic"]]
    config = RuntimeConfig(workers=1, formats=("jpeg", "heic"))
    with Runtime(config) as runtime:
        narrowed = runtime.submit(_spec(inputs, tmp_path / "a")).wait(timeout=60)
        own = runtime.submit(_spec(inputs, tmp_path / "b", formats=["png", "heic"])).wait(
            timeout=60
        )
    assert (narrowed.status, own.status) == (JobStatus.COMPLETED, JobStatus.COMPLETED)
    png = _records(tmp_path / "a")["photo.png"]
    assert (png["status"], png["reason"]) == ("skipped", "input.unsupported")
    assert "PNG is not among the formats this job reads" in png["message"]
    assert _records(tmp_path / "a")["photo.heic"]["status"] == "done"
    assert {r["status"] for r in _records(tmp_path / "b").values()} == {"done"}


def test_the_config_files_input_formats_set_the_runtimes_and_show_back() -> None:
    settings = settings_from_dict({"config_version": 2, "input": {"formats": ["jpg", "HEIC"]}})
    assert settings.runtime.formats == ("JPEG", "HEIF")
    shown = effective_config(settings)
    assert shown["input"] == {"formats": ["JPEG", "HEIF"], "include_hidden": False}
    assert settings_from_dict(shown) == settings
    assert effective_config(settings_from_dict({}))["input"]["formats"] == list(DEFAULT_FORMATS)


@pytest.mark.parametrize(
    ("formats", "message"),
    [
        (["jpeg", "webpp"], "input.formats: unknown image format 'webpp' (did you mean"),
        ("jpeg", 'input.formats: expected a list of names, got "jpeg"'),
        (["pdf"], "input.formats: PDF cannot be enabled"),
    ],
)
def test_a_bad_input_formats_is_one_line_naming_the_key(formats: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"config_version": 2, "input": {"formats": formats}})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_runtime_config_and_job_spec_check_their_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^formats: unknown image format 'gifff'"):
        RuntimeConfig(formats=("png", "gifff"))
    spec = _spec([tmp_path / "a.png"], tmp_path / "out", formats=["raw"])
    with pytest.raises(ConfigError, match="^formats: unknown image format 'raw'"):
        spec.to_order(job_id="j", max_pixels=10**6)
    order = _spec([tmp_path / "a.png"], tmp_path / "out").to_order(
        job_id="j", max_pixels=10**6, formats=("PNG",)
    )
    assert order.pipeline.formats == ("PNG",)


def test_a_job_file_lists_its_own_formats(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[job]\ninputs = ["in"]\nexport_dir = "out"\nformats = ["heic", "jpg"]\n')
    assert load_job_file(job).formats == ("JPEG", "HEIF")
    job.write_text('[job]\ninputs = ["in"]\nexport_dir = "out"\nformats = ["eps", "pdf"]\n')
    with pytest.raises(ConfigError, match=r"job\.toml: job\.formats: PDF cannot be enabled"):
        load_job_file(job)


def test_a_directory_walk_picks_up_heic_avif_and_qoi_but_not_eps_or_pdf(tmp_path: Path) -> None:
    _write_inputs(tmp_path / "in")
    found = sorted(item.path.name for item in expand_inputs([str(tmp_path / "in")]))
    assert found == ["noise.jpg", "photo.avif", "photo.heic", "photo.png", "photo.qoi"]
