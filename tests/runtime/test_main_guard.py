"""A script that starts a Runtime outside `if __name__ == "__main__":` fails at once, saying so."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from pixelmill import ConfigError, Runtime
from pixelmill.runtime._main_guard import _guarded
from pixelmill.testing import write_sample_set

if TYPE_CHECKING:
    from pathlib import Path

ADVICE = 'guard the code that starts the Runtime with `if __name__ == "__main__":`'


def run_script(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run a driver script; it must end within 60 s (it hung for ever before)."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=os.environ | {"PIXELMILL_STATE": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_runtime_at_a_scripts_top_level_fails_before_any_worker_starts(
    tmp_path: Path,
) -> None:
    write_sample_set(tmp_path / "in", 1)
    done = run_script(tmp_path, """
        import pixelmill

        with pixelmill.Runtime(workers=1) as runtime:
            runtime.submit(pixelmill.JobSpec(inputs=["in"], export_dir="out")).wait()
        print("finished")
    """)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "ConfigError" in done.stderr
    assert f"{tmp_path / 'driver.py'}:4: the Runtime is started at the script's top level" in (
        done.stderr
    )
    assert ADVICE in done.stderr
    assert "finished" not in done.stdout


def test_run_batch_in_a_function_the_script_calls_unguarded_fails_the_same(
    tmp_path: Path,
) -> None:
    write_sample_set(tmp_path / "in", 1)
    done = run_script(tmp_path, """
        import pixelmill

        def main():
            pixelmill.run_batch(["in"], export_dir="out")

        main()
    """)
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"{tmp_path / 'driver.py'}:7: the Runtime is started" in done.stderr
    assert ADVICE in done.stderr


def test_a_worker_that_imports_the_script_again_refuses_to_start_a_runtime(
    tmp_path: Path,
) -> None:
    """A condition the host cannot judge (`if True:`) reaches the worker's own check."""
    write_sample_set(tmp_path / "in", 1)
    done = run_script(tmp_path, """
        import pixelmill

        if True:
            result = pixelmill.run_batch(["in"], export_dir="out", timeout=50)
            print("status:", result.status.value, result.counts.as_dict())
    """)
    # The worker fails while it imports the script, with the advice, and the
    # host ends instead of waiting for a worker that never starts.
    assert "a worker process imported" in done.stderr, done.stderr
    assert f"{tmp_path / 'driver.py'} again" in done.stderr
    assert ADVICE in done.stderr
    assert "status:" in done.stdout, done.stdout + done.stderr


def test_a_runtime_refuses_to_start_while_this_process_imports_a_main_script() -> None:
    process = multiprocessing.current_process()
    process._inheriting = True  # type: ignore[attr-defined]  # what spawn.prepare sets
    try:
        with pytest.raises(ConfigError, match=r"a worker process imported .* again"):
            Runtime(workers=1)
    finally:
        del process._inheriting  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "line", "guarded"),
    [
        ('import x\nif __name__ == "__main__":\n    x.run()\n', 3, True),
        ('import multiprocessing as mp\nif mp.current_process().name == "MainProcess":\n'
         "    run()\n", 3, True),
        ('run() if __name__ == "__main__" else None\n', 1, True),
        ("with Runtime(\n    workers=1,\n) as runtime:\n    pass\n", 2, False),
        ("try:\n    run()\nexcept ImportError:\n    run()\n", 4, False),
        ("for _ in range(2):\n    with open('f') as f:\n        run(f)\n", 3, False),
        ("def main():\n    run()\n\nmain()\n", 4, False),
    ],
)
def test_only_a_line_no_condition_guards_counts_as_unguarded(
    tmp_path: Path, source: str, line: int, guarded: bool
) -> None:
    script = tmp_path / f"script_{line}_{guarded}.py"
    script.write_text(source)
    assert _guarded(str(script), line) is guarded


def test_an_unreadable_script_is_given_the_benefit_of_the_doubt(tmp_path: Path) -> None:
    assert _guarded(str(tmp_path / "gone.py"), 1)
