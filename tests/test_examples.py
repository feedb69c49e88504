"""Every script in `examples/` runs as a user would run it, and prints what it promises."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from pixelmill.testing import write_sample_set
from tests._web_service import free_port, read_events, wait_until_serving

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(
    name: str, tmp_path: Path, *args: str, while_running: Callable[[subprocess.Popen[str]], None]
    | None = None,
) -> str:
    """Run `examples/<name>` from an empty dir, with its state and temp files under `tmp_path`.

    A script that serves until stopped is given `while_running`: called with
    the running process, then the script gets a Ctrl-C (SIGINT) and must exit 0.
    """
    (tmp_path / "tmp").mkdir()
    env = os.environ | {
        "PIXELMILL_STATE": str(tmp_path / "state"),  # never the home dir
        "TMPDIR": str(tmp_path / "tmp"),  # what a script keeps stays in the test's dir
    }
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        if while_running is not None:
            while_running(process)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=100)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, f"{name} exited {process.returncode}:\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return stdout


def test_every_example_has_a_test_and_a_readme_line() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    tested = set(re.findall(r'run_example\("(\w+\.py)"', Path(__file__).read_text()))
    for script in EXAMPLES.glob("*.py"):
        assert script.name in tested, script.name
        assert f"`{script.name}`" in readme, script.name
        assert script.read_text().startswith("# /// script\n"), script.name
        assert 'if __name__ == "__main__":' in script.read_text(), script.name


def test_embed_with_progress_prints_each_item_the_counts_and_the_export(tmp_path: Path) -> None:
    out = run_example("embed_with_progress.py", tmp_path)
    assert len(re.findall(r"^ +\d+/\S+ +(?:done|skipped) ", out, re.MULTILINE)) == 10, out
    assert "counts: {'total': 10, 'done': 8, 'cached': 0, 'failed': 0, 'skipped': 2" in out
    for name in ("summary.json", "report.html"):
        match = re.search(rf"^  {re.escape(name)} +(\S+)$", out, re.MULTILINE)
        assert match, out
        assert Path(match[1]).is_file()


def test_priorities_finishes_the_urgent_job_before_the_bulk_job(tmp_path: Path) -> None:
    out = run_example("priorities.py", tmp_path)
    match = re.search(r"^1\. urgent completed .*still to do: (\d+)\)$", out, re.MULTILINE)
    assert match, out
    assert int(match[1]) > 0, out  # the bulk job still had items when the urgent one ended
    assert re.search(r"^2\. bulk +completed .*still to do: 0\)$", out, re.MULTILINE), out


def test_custom_op_and_analysis_run_in_workers(tmp_path: Path) -> None:
    out = run_example("custom_op_and_analysis.py", tmp_path)
    assert (
        "ConfigError: pipeline step 1 (sepia): strength: expected a number from 0 to 1, got 3"
        in out
    )
    assert "counts: {'total': 4, 'done': 4," in out, out
    assert len(re.findall(r" colorfulness=\d+\.\d+$", out, re.MULTILINE)) == 4, out


def test_job_history_lists_the_jobs_and_resumes_the_cancelled_one(tmp_path: Path) -> None:
    out = run_example("job_history.py", tmp_path)
    before = re.search(r"before resume: cancelled \{.*'done': (\d+),.*'cancelled': (\d+)\}", out)
    assert before, out
    assert int(before[2]) > 0, out
    rows = re.findall(r"^[0-9a-f]{12}  (\w+) +(\w+) +(\d+)/(\d+)  [\d.]+ s$", out, re.MULTILINE)
    assert [(name, status) for name, status, _, _ in rows] == [
        ("archive", "cancelled"),
        ("dogs", "completed"),
        ("cats", "completed"),
    ], out
    assert "after resume:  completed {'total': 24, 'done': 24," in out


def test_inspect_logs_groups_errors_by_class_and_lists_the_slowest(tmp_path: Path) -> None:
    out = run_example("inspect_logs.py", tmp_path)
    assert re.search(r"^  input\.truncated +x6 ", out, re.MULTILINE), out
    assert re.search(r"^  input\.not_image +x2 ", out, re.MULTILINE), out
    slowest = out.split("slowest items:\n")[1].split("every ")[0]
    assert len(re.findall(r"^ +[\d.]+ ms  photo_\d+\.\w+$", slowest, re.MULTILINE)) == 3, out
    assert len(re.findall(r"^  broken_\d+_\w+\.\w+: ", out, re.MULTILINE)) == 6, out


def test_web_service_runs_a_job_over_http_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    write_sample_set(tmp_path / "root" / "photos", 3, broken=1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    seen: list[tuple[str, dict[str, object]]] = []

    def drive(process: subprocess.Popen[str]) -> None:
        wait_until_serving(url, process)
        with httpx.Client(base_url=url, timeout=30) as client:
            spec = {"name": "thumbs", "inputs": ["photos"], "analyses": ["channel_stats"],
                    "pipeline": [{"op": "thumbnail", "size": 64}, {"op": "save", "format": "png"}]}
            created = client.post("/jobs", json=spec)
            assert created.status_code == 201, created.text
            seen.extend(read_events(client, f"/jobs/{created.json()['id']}/events"))

    out = run_example("web_service.py", tmp_path, "--port", str(port), "--root", "root",
                      "--state", "service", "--workers", "1", while_running=drive)
    kind, end = seen[-1]
    assert kind == "end", seen
    assert end["counts"] == {"total": 4, "done": 3, "cached": 0, "failed": 0, "skipped": 1,
                             "cancelled": 0}, end
    assert "web_service: stopped" in out
    assert list((tmp_path / "service" / "exports").glob("*/report.html"))
