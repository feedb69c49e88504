"""Where pixelmill keeps its state: the job store, by default under the XDG data home."""

from __future__ import annotations

import os
from pathlib import Path

from pixelmill.errors import ConfigError

__all__ = ["state_dir"]


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory, created if missing.

    The first that is set wins: `explicit`, `$PIXELMILL_STATE`,
    `$XDG_DATA_HOME/pixelmill` (an absolute `XDG_DATA_HOME` only, as the XDG
    spec asks), `~/.local/share/pixelmill`. Empty variables count as unset.

    Raises:
        ConfigError: the directory cannot be created, or a file is in its way;
            the message names the directory and where it came from.
    """
    directory, origin = _choose(explicit)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the state directory {directory} (from {origin}): {exc.strerror}"
        ) from exc
    return directory


def _choose(explicit: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if explicit is not None:
        return Path(explicit).expanduser(), "the state_dir argument"
    if value := os.environ.get("PIXELMILL_STATE"):
        return Path(value).expanduser(), "$PIXELMILL_STATE"
    data_home = os.environ.get("XDG_DATA_HOME")
    if data_home and Path(data_home).is_absolute():
        return Path(data_home) / "pixelmill", "$XDG_DATA_HOME"
    return Path.home() / ".local" / "share" / "pixelmill", "the default"
