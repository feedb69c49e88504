"""`pixelmill run --no-cache / --verify-cache`, `pixelmill cache stats` and `cache clear`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelmill.cli import main
from pixelmill.testing import write_sample_set


def _run(tmp_path: Path, *flags: str) -> dict[str, int]:
    """Run over the same three images; the counts the job's summary.json gives."""
    write_sample_set(tmp_path / "in", 3, seed=4)
    code = main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--thumbnail", "32", "--state", str(tmp_path / "state"), "--quiet", *flags])
    assert code == 0, "a job whose items are all done or cached succeeded"
    counts: dict[str, int] = json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]
    return counts


def _stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["cache", "stats", "--json", "--state", str(tmp_path / "state")]) == 0
    stats: dict[str, object] = json.loads(capsys.readouterr().out)
    return stats


def test_a_rerun_is_cached_unless_told_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path)["done"] == 3
    assert _run(tmp_path)["cached"] == 3
    assert _run(tmp_path, "--verify-cache")["cached"] == 3
    assert (_run(tmp_path, "--no-cache")["done"], _run(tmp_path)["cached"]) == (3, 3)
    capsys.readouterr()
    main(["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--workers", "1",
          "--thumbnail", "32", "--state", str(tmp_path / "state")])
    table = capsys.readouterr().out
    assert "cached" in table
    assert " x cached" not in table, "cached items are no failure to group by reason"


def test_cache_stats_counts_entries_and_hits_and_clear_empties_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path)
    _run(tmp_path)
    stats = _stats(tmp_path, capsys)
    assert stats["entries"] == 3
    assert isinstance(stats["bytes"], int) and stats["bytes"] > 0
    assert stats["hit_rate"] == 0.5  # the first run 0 of 3, the second 3 of 3
    jobs = stats["jobs"]
    assert isinstance(jobs, list)
    assert [(job["items"], job["cached"]) for job in jobs] == [(3, 3), (3, 0)]

    assert main(["cache", "stats", "--state", str(tmp_path / "state")]) == 0
    assert "hit rate  50%" in capsys.readouterr().out

    assert main(["cache", "clear", "--state", str(tmp_path / "state")]) == 0
    assert "cleared 3 cache entries" in capsys.readouterr().out
    assert _stats(tmp_path, capsys)["entries"] == 0
    assert _run(tmp_path)["done"] == 3, "a cleared cache has nothing to reuse"


def test_a_cache_config_key_is_checked_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pixelmill.toml"
    config.write_text("config_version = 2\n[cache]\nmax_entries = 0\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(tmp_path), "--config", str(config), "--state", str(tmp_path / "s")])
    assert exit_info.value.code == 2
    assert "cache.max_entries" in capsys.readouterr().err


def test_cache_disabled_in_the_config_works_every_item(tmp_path: Path) -> None:
    config = tmp_path / "pixelmill.toml"
    config.write_text("config_version = 2\n[cache]\nenabled = false\n")
    _run(tmp_path)
    assert _run(tmp_path, "--config", str(config))["done"] == 3
