"""The chaos drill: `[faults]` crashes actors while a real `pixelmill run` works.

Below the restart intensity the job ends exact; above it the run stops
cleanly with exit code 3 and a line naming the actor.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pixelmill.testing import write_sample_set
from pixelmill.workers.faults import ACTOR_ROLES
from tests.runtime._cli import assert_complete, finish, spawn

COUNT = 120


def _drill(tmp_path: Path, *, rate: float, max_restarts: int) -> tuple[int, str, Path]:
    write_sample_set(tmp_path / "in", COUNT, seed=12)
    config = tmp_path / "drill.toml"
    config.write_text(
        "config_version = 2\n"
        f"[recovery]\nmax_restarts = {max_restarts}\n"
        f"[faults]\nactor_crash_rate = {rate}\nseed = 3\n"
    )
    state = tmp_path / "state"
    process = spawn("run", tmp_path / "in", "--out", tmp_path / "out", "--state", state,
                    "--config", config, "--workers", "2", "--thumbnail", "24", "--format",
                    "png", "--analyses", "channel_stats", "--quiet", plugins=())
    code, _, err = finish(process, timeout=120)  # no hang, whatever breaks
    return code, err, state


def _restarts(out: Path) -> list[str]:
    (log,) = (out / "logs").glob("*.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return [e["role"] for e in events if e["event"] == "actor.restarted"]


def test_below_the_restart_intensity_every_input_ends_exactly_once(tmp_path: Path) -> None:
    code, err, state = _drill(tmp_path, rate=0.02, max_restarts=1000)

    assert code == 0, err
    assert_complete(tmp_path, state)
    restarted = _restarts(tmp_path / "out")
    assert len(restarted) >= 3, "the drill crashed actors"
    assert set(restarted) <= set(ACTOR_ROLES)


def test_above_the_restart_intensity_the_run_stops_cleanly_naming_the_actor(
    tmp_path: Path,
) -> None:
    code, err, _ = _drill(tmp_path, rate=0.2, max_restarts=2)

    assert code == 3, err
    (line,) = [line for line in err.splitlines() if line.startswith("pixelmill: error:")]
    match = re.search(r"the runtime broke: (\w+) died 3 times within 60 s", line)
    assert match is not None, line
    assert match[1] in ACTOR_ROLES
