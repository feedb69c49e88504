"""The `pixelmill` command line: outputs, export, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pixelmill.cli import main
from pixelmill.messages import JobCounts, JobStatus
from pixelmill.runtime.handle import JobResult
from pixelmill.testing import write_broken_files, write_sample_set


def test_run_writes_outputs_export_and_log_and_exits_0(tmp_path: Path) -> None:
    inputs = write_sample_set(tmp_path / "in", 4, seed=2)
    out = tmp_path / "out"
    code = main(["run", str(tmp_path / "in"), "--out", str(out), "--workers", "1",
                 "--thumbnail", "40", "--format", "png", "--analyses", "channel_stats",
                 "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["done"] == len(inputs) == 4
    for item in summary["items"]:
        (output,) = item["outputs"]
        with Image.open(output) as image:
            assert image.format == "PNG"
            assert max(image.size) <= 40
    (log,) = (out / "logs").glob("run-*.jsonl")
    assert any(json.loads(line)["event"] == "job.finished" for line in log.read_text().splitlines())


def test_run_exits_1_when_some_items_are_skipped(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "in", 2, seed=1)
    broken = write_broken_files(tmp_path / "bad")
    code = main(["run", str(tmp_path / "in"), *map(str, broken.values()),
                 "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"])
    assert code == 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--workers", "0"], "--workers"),
        (["--quality", "500"], "--quality"),
        (["--thumbnail", "big"], "--thumbnail"),
        (["--format", "gif"], "--format"),
    ],
)
def test_a_bad_flag_exits_2_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path), "--out", str(tmp_path / "o"), *flags])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert named in error


def test_an_unknown_analysis_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sample_set(tmp_path / "in", 1)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
              "--analyses", "luminance,sharpnes"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "sharpnes" in error
    assert len(error.splitlines()) == 1


def test_exit_codes_follow_how_the_job_ended() -> None:
    from pixelmill.cli.run import exit_code as _exit_code

    def result(status: JobStatus, **counts: int) -> JobResult:
        return JobResult(job_id="j", name="j", status=status, counts=JobCounts(**counts),
                         reason=None, message=None, export_files=(), duration_s=0.0)

    assert _exit_code(result(JobStatus.COMPLETED, total=2, done=2)) == 0
    assert _exit_code(result(JobStatus.COMPLETED, total=2, done=1, skipped=1)) == 1
    assert _exit_code(result(JobStatus.ABORTED, total=2, done=1, failed=1)) == 3


def test_demo_generates_samples_and_says_where_everything_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--out", str(tmp_path / "demo"), "--count", "5", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "demo" / "output") in printed
    assert "summary.json" in printed
    summary = json.loads((tmp_path / "demo" / "output" / "summary.json").read_text())
    assert summary["counts"]["total"] == 8
    assert summary["counts"]["done"] == 5


def test_an_out_dir_that_is_a_file_exits_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file")
    write_sample_set(tmp_path / "in", 1)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "taken")])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_the_installed_command_runs_a_job_as_python_m_pixelmill(tmp_path: Path) -> None:
    # The console script and `python -m pixelmill` share `console_main`: its
    # workers start without importing the command line again.
    import subprocess
    import sys

    write_sample_set(tmp_path / "in", 2, seed=4)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "pixelmill", "run", str(tmp_path / "in"), "--out", str(out),
         "--json", "--state", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["type"] for e in events].count("ItemFinished") == 2
    assert events[-1]["type"] == "JobFinished"


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["run", "x.jpg"], True),
        (["demo"], True),
        (["resume", "abc"], True),
        (["run", "x.jpg", "--backend", "ray"], False),
        (["run", "x.jpg", "--backend=ray"], False),
        (["run", "x.jpg", "--backend", "local"], True),
        (["jobs"], False),
        (["logs", "run.jsonl"], False),
        ([], False),
    ],
)
def test_the_fork_server_starts_early_only_for_commands_with_local_workers(
    argv: list[str], starts: bool
) -> None:
    from pixelmill.__main__ import _runs_local_workers

    assert _runs_local_workers(argv) is starts
