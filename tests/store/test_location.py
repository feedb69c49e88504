from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pixelmill.errors import ConfigError
from pixelmill.store import state_dir

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _no_state_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PIXELMILL_STATE", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_an_explicit_directory_wins_and_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXELMILL_STATE", str(tmp_path / "from_env"))

    directory = state_dir(tmp_path / "explicit" / "state")

    assert directory == tmp_path / "explicit" / "state"
    assert directory.is_dir()


def test_pixelmill_state_comes_before_the_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXELMILL_STATE", str(tmp_path / "from_env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    assert state_dir() == tmp_path / "from_env"


def test_the_xdg_data_home_comes_before_the_home_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    assert state_dir() == tmp_path / "xdg" / "pixelmill"


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "relative/xdg")

    assert state_dir() == tmp_path / "home" / ".local" / "share" / "pixelmill"


def test_without_settings_the_state_lives_under_the_home(tmp_path: Path) -> None:
    directory = state_dir()

    assert directory == tmp_path / "home" / ".local" / "share" / "pixelmill"
    assert directory.is_dir()


def test_a_file_in_the_way_names_the_directory_and_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taken").write_text("")
    monkeypatch.setenv("PIXELMILL_STATE", str(tmp_path / "taken"))

    with pytest.raises(ConfigError, match=r"taken \(from \$PIXELMILL_STATE\)"):
        state_dir()
