"""Nothing under an input directory is dropped silently: taken by what it is, or listed as ignored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pixelmill import JobSpec, JobStatus, Runtime, ops
from pixelmill.actors._inputs import IGNORED_LISTED, Ignored, expand_inputs
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.cli import main
from pixelmill.runtime.config_file import settings_from_dict
from pixelmill.runtime.job_file import load_job_file
from pixelmill.testing import wait_until
from pixelmill.testing.images import write_image
from pixelmill.workers.faults import FaultPlan, FaultTarget


def _folder(root: Path) -> Path:
    """A folder as users have them: images with, without and with odd extensions, and the rest."""
    folder = root / "in"
    (folder / "sub").mkdir(parents=True)
    write_image(folder / "photo.png")
    # Each its own bytes, so that none is answered from the result cache.
    write_image(folder / "scan", color=(20, 200, 20), fmt="PNG")  # no extension
    write_image(folder / "sub" / "export.bin", color=(20, 20, 200), fmt="JPEG")  # odd extension
    (folder / "notes.txt").write_text("not an image, whatever its first bytes\n")
    write_image(folder / ".hidden.png")
    (folder / ".cache").mkdir()
    write_image(folder / ".cache" / "thumb.png")
    (folder / "paper.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (folder / "drawing").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
    (folder / "loop").symlink_to("loop")  # ELOOP on every access
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    (folder / "gone.png").symlink_to(folder / "nowhere.png")
    return folder


def _spec(folder: Path, out: Path, **extra: Any) -> JobSpec:
    return JobSpec(inputs=[str(folder)], export_dir=out, pipeline=[ops.thumbnail(16)],
                   analyses=["luminance"], **extra)


def _ignored(out: Path) -> dict[str, Any]:
    ignored: dict[str, Any] = json.loads((out / "summary.json").read_text())["ignored"]
    return ignored


def _listed(ignored: dict[str, Any]) -> dict[str, str]:
    return {Path(entry["path"]).name: entry["reason"] for entry in ignored["files"]}


def _items(out: Path) -> dict[str, dict[str, Any]]:
    items = json.loads((out / "summary.json").read_text())["items"]
    return {Path(item["path"]).name: item for item in items}


def test_a_walk_takes_images_by_what_they_are_and_lists_everything_else(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    with Runtime(workers=1, recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        result = runtime.submit(_spec(folder, out)).wait(timeout=60)
    assert result.status is JobStatus.COMPLETED
    items = _items(out)
    assert sorted(items) == ["export.bin", "photo.png", "scan"]
    assert {item["status"] for item in items.values()} == {"done"}
    ignored = _ignored(out)
    assert _listed(ignored) == {
        "notes.txt": "not_an_image",
        ".hidden.png": "hidden",
        ".cache": "hidden",
        "paper.pdf": "format_off",
        "drawing": "format_off",
        "loop": "symlink_loop",
        "up": "symlink_loop",
        "gone.png": "broken_symlink",
    }
    assert ignored["by_reason"] == {
        "broken_symlink": 1, "format_off": 2, "hidden": 2, "not_an_image": 1, "symlink_loop": 2,
    }
    assert (ignored["total"], ignored["listed_per_reason"]) == (8, IGNORED_LISTED)
    formats = {Path(e["path"]).name: e.get("format") for e in ignored["files"]}
    assert (formats["paper.pdf"], formats["drawing"]) == ("PDF", "EPS")
    directories = {Path(e["path"]).name for e in ignored["files"] if e.get("directory")}
    assert directories == {".cache", "up"}
    # The host's result says the same, and so does the report.
    assert result.ignored.by_reason() == ignored["by_reason"]
    assert result.ignored.total == 8
    report = (out / "report.html").read_text()
    assert 'id="ignored"' in report
    for name in ("notes.txt", "paper.pdf", "gone.png", "symlink_loop", "not_an_image"):
        assert name in report


def test_hidden_files_are_taken_when_the_job_or_the_runtime_says_so(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with Runtime(workers=1, recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        by_job = runtime.submit(_spec(folder, tmp_path / "a", include_hidden=True)).wait(60)
    with Runtime(workers=1, include_hidden=True,
                 recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        by_runtime = runtime.submit(_spec(folder, tmp_path / "b")).wait(timeout=60)
        own_word = runtime.submit(_spec(folder, tmp_path / "c", include_hidden=False)).wait(60)
    for result, out in ((by_job, tmp_path / "a"), (by_runtime, tmp_path / "b")):
        assert result.counts.succeeded == 5
        assert {".hidden.png", "thumb.png"} <= set(_items(out))
        assert "hidden" not in _ignored(out)["by_reason"]
    assert own_word.counts.succeeded == 3
    assert _ignored(tmp_path / "c")["by_reason"]["hidden"] == 2


def test_the_ignored_list_is_bounded_and_counts_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for number in range(IGNORED_LISTED + 150):
        (folder / f"note-{number:04d}.txt").write_text("plain text\n")
    write_image(folder / "a.png")
    ignored = Ignored()
    found = [item.path.name for item in expand_inputs([str(folder)], ignored=ignored)]
    assert found == ["a.png"]
    left = ignored.snapshot()
    assert left.by_reason() == {"not_an_image": IGNORED_LISTED + 150}
    assert len(left.listed) == IGNORED_LISTED
    # The first found are listed, in walk (sorted) order.
    assert [Path(e.path).name for e in left.listed][:2] == ["note-0000.txt", "note-0001.txt"]


def test_the_jobs_own_output_dir_inside_an_input_dir_is_listed_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "out").mkdir(parents=True)
    write_image(folder / "a.png")
    write_image(folder / "out" / "made.png")
    ignored = Ignored()
    found = [i.path.name for i in expand_inputs([str(folder)], [folder / "out"], ignored=ignored)]
    assert found == ["a.png"]
    (entry,) = ignored.snapshot().listed
    assert (Path(entry.path).name, entry.reason, entry.directory) == ("out", "own_output", True)


def test_an_unreadable_directory_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    write_image(folder / "a.png")
    write_image(folder / "locked" / "b.png")
    out = tmp_path / "out"
    os.chmod(folder / "locked", 0)
    try:
        if not os.access(folder / "locked", os.R_OK):
            with Runtime(workers=1) as runtime:
                done = runtime.submit(_spec(folder, out)).wait(timeout=60).counts.done
        else:
            # Root (or CAP_DAC_OVERRIDE) lists mode-000 directories: a real
            # `pixelmill run` without the two capabilities that allow it.
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("root lists mode-000 directories, and setpriv is missing")
            caps = "-dac_override,-dac_read_search"
            command = [setpriv, "--bounding-set", caps, "--inh-caps", caps, sys.executable,
                       "-m", "pixelmill", "run", str(folder), "--out", str(out), "--workers",
                       "1", "--state", str(tmp_path / "state"), "--quiet"]
            run = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                 check=False)
            assert run.returncode == 0, run.stderr
            done = json.loads((out / "summary.json").read_text())["counts"]["done"]
    finally:
        os.chmod(folder / "locked", 0o755)
    assert done == 1
    assert _listed(_ignored(out)) == {"locked": "unreadable_dir"}


def test_a_resume_walks_again_and_ignores_the_same_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    out, state = tmp_path / "out", tmp_path / "state"
    # The first run hangs on photo.png and is cancelled once another item is done.
    plan = FaultPlan(targets=(FaultTarget("photo.png", "hang"),))
    with Runtime(workers=2, state_dir=state, faults=plan, batch_items=1,
                 recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        handle = runtime.submit(_spec(folder, out))
        wait_until(lambda: handle.progress().counts.done >= 1, 60, "an item done")
        handle.cancel(abandon=True)
        first = handle.wait(timeout=30)
    assert first.status is JobStatus.CANCELLED
    first_ignored = _ignored(out)
    assert first_ignored["total"] == 8
    # scan was taken for its PNG signature; it is text now: the resume takes it
    # again (it is the job's) and it fails, rather than vanishing into `ignored`.
    (folder / "scan").write_text("overwritten with text\n")
    with Runtime(workers=1, state_dir=state,
                 recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        second = runtime.resume(first.job_id).wait(timeout=60)
    assert second.status is JobStatus.COMPLETED
    assert _ignored(out) == first_ignored
    assert second.ignored.total == first.ignored.total == 8
    items = _items(out)
    assert sorted(items) == ["export.bin", "photo.png", "scan"]
    assert (items["scan"]["status"], items["scan"]["reason"]) == ("skipped", "input.not_image")
    assert items["photo.png"]["status"] == "done"


def test_the_cli_counts_ignored_files_and_takes_hidden_ones_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    flags = ["--workers", "1", "--thumbnail", "16", "--analyses", "luminance"]
    code = main(["run", str(folder), "--out", str(tmp_path / "a"), *flags])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ignored" in printed
    assert "2 x ignored hidden" in printed
    assert "1 x ignored not_an_image" in printed
    code = main(["run", str(folder), "--out", str(tmp_path / "b"), "--include-hidden", *flags])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ignored hidden" not in printed
    assert {".hidden.png", "thumb.png"} <= set(_items(tmp_path / "b"))


def test_a_job_file_and_the_config_file_set_include_hidden(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[job]\ninputs = ["in"]\nexport_dir = "out"\ninclude_hidden = true\n')
    assert load_job_file(job).include_hidden is True
    settings = settings_from_dict({"config_version": 2, "input": {"include_hidden": True}})
    assert settings.runtime.include_hidden is True
    assert settings_from_dict({}).runtime.include_hidden is False
