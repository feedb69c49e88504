"""The other `pixelmill` commands: jobs, resume, config, job files, logs, --json, --charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelmill.cli import main
from pixelmill.testing import write_sample_set


def _run(tmp_path: Path, *flags: str) -> int:
    write_sample_set(tmp_path / "in", 3, seed=4, broken=1)
    return main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--thumbnail", "32", "--state", str(tmp_path / "state"), *flags])


def test_run_json_prints_one_event_per_line_ending_with_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, "--json") == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["type"] == "JobFinished"
    items = [e for e in events if e["type"] == "ItemFinished"]
    assert sorted(e["index"] for e in items) == [0, 1, 2, 3]
    assert {e["status"] for e in items} == {"done", "skipped"}


def test_charts_and_the_report_are_written(tmp_path: Path) -> None:
    _run(tmp_path, "--quiet", "--charts", "--analyses", "rgb_histogram")
    assert len(list((tmp_path / "out" / "charts").glob("*.png"))) == 3
    assert "<svg" in (tmp_path / "out" / "report.html").read_text()


def test_jobs_lists_and_shows_past_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path, "--quiet", "--name", "holiday")
    capsys.readouterr()
    assert main(["jobs", "--json", "--state", str(tmp_path / "state")]) == 0
    (job,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (job["name"], job["status"], job["counts"]["done"]) == ("holiday", "completed", 3)
    assert main(["jobs", "show", job["job_id"][:5], "--json",
                 "--state", str(tmp_path / "state")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [i["status"] for i in shown["items"]].count("skipped") == 1
    assert main(["jobs", "prune", "--older-than", "0", "--state", str(tmp_path / "state")]) == 0
    capsys.readouterr()
    main(["jobs", "--json", "--state", str(tmp_path / "state")])
    assert capsys.readouterr().out == ""


def test_resume_of_an_unknown_job_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path, "--quiet")
    with pytest.raises(SystemExit) as exit_info:
        main(["resume", "ffffff", "--state", str(tmp_path / "state")])
    assert exit_info.value.code == 2
    assert "ffffff" in capsys.readouterr().err


def test_a_job_file_runs_and_a_bad_step_names_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sample_set(tmp_path / "photos", 2, seed=5)
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "from-file"\ninputs = ["photos/"]\nexport_dir = "exported"\n'
        'analyses = ["luminance"]\n[[pipeline]]\nop = "thumbnail"\nsize = 24\n'
        '[[pipeline]]\nop = "save"\nformat = "webp"\n'
    )
    assert main(["run", str(job), "--quiet", "--state", str(tmp_path / "state")]) == 0
    summary = json.loads((tmp_path / "exported" / "summary.json").read_text())
    assert summary["name"] == "from-file"
    assert all(item["outputs"][0].endswith(".webp") for item in summary["items"])

    job.write_text(job.read_text().replace("size = 24", "size = 0"))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(job), "--quiet", "--state", str(tmp_path / "state")])
    assert exit_info.value.code == 2
    assert "pipeline step 1 (thumbnail): size" in capsys.readouterr().err


def test_config_show_and_migrate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.toml"
    old.write_text('max_workers = 3\noutput_directory = "out"\nanalysis_types = ["luminance"]\n')
    assert main(["config", "migrate", str(old)]) == 0
    migrated = capsys.readouterr().out
    assert "config_version = 2" in migrated
    assert "cpu_slots = 3" in migrated
    assert main(["config", "show", "--config", str(old)]) == 0
    assert "cpu_slots = 3" in capsys.readouterr().out
    old.write_text("max_workers = 0\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["config", "show", "--config", str(old)])
    assert exit_info.value.code == 2
    assert "max_workers" in capsys.readouterr().err


def test_logs_summary_groups_the_runs_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path, "--quiet", "--log", str(tmp_path / "run.jsonl"))
    capsys.readouterr()
    assert main(["logs", str(tmp_path / "run.jsonl"), "--summary", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert json.dumps(summary).count("input.") >= 1
    assert main(["logs", str(tmp_path / "run.jsonl"), "--event", "item.done", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert {line["event"] for line in lines} == {"item.done"}
    assert main(["logs", str(tmp_path / "run.jsonl"), "--reason", "input", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(line["reason"].startswith("input.") for line in lines)
    failed = [line["item"] for line in lines if line["event"] == "item.failed"]
    assert failed == [str(tmp_path / "in" / "broken_0000_truncated_jpeg.jpg")]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--level", "Loud"], '--level: expected one of debug, info, warning, error, critical, '
                              'got "Loud"'),
        (["--reason", "."], '--reason: expected a dotted class such as input.truncated or '
                            'input., got "."'),
        (["--since", "1h", "--until", "2h"], "--until: "),
        (["--since", "soon"], '--since: expected an ISO time or a duration like 10m, got "soon"'),
    ],
)
def test_a_bad_logs_flag_is_named_as_the_flag_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    (tmp_path / "run.jsonl").write_text('{"event": "runtime.started"}\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["logs", str(tmp_path / "run.jsonl"), *flags])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"pixelmill: error: {message}"), error
    assert "----" not in error


def test_a_missing_log_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["logs", str(tmp_path / "nope.jsonl")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"pixelmill: error: {tmp_path / 'nope.jsonl'}: no such log file or directory\n")


def test_a_plugin_module_brings_its_ops_to_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sample_set(tmp_path / "in", 1, seed=6)
    assert main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet",
                 "--plugin", "tests.runtime.test_extensibility", "--analyses", "test_red_share",
                 "--state", str(tmp_path / "state")]) == 0
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0]
    assert "red_share" in header
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "o2"),
              "--plugin", "no_such_module_here"])
    assert exit_info.value.code == 2
    assert "--plugin" in capsys.readouterr().err
