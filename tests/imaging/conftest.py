"""Fixtures for the imaging tests: an item context to call steps directly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pixelmill.imaging import steps
from pixelmill.imaging.steps import ItemContext

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture(name="ctx")
def _ctx() -> ItemContext:
    """A context for steps that need nothing of their item but its existence."""
    return ItemContext(
        path=Path("/in/item.png"),
        source={"format": "PNG", "width": 64, "height": 48, "mode": "RGB"},
    )


@pytest.fixture(name="own_registry")
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops and analyses a test registers are gone after it."""
    monkeypatch.setattr(steps, "_OPS", dict(steps._OPS))  # noqa: SLF001
    monkeypatch.setattr(steps, "_ANALYSES", dict(steps._ANALYSES))  # noqa: SLF001


@pytest.fixture(name="fd_count")
def _fd_count() -> Callable[[], int]:
    """Counts this process's open file descriptors."""
    return lambda: len(list(Path("/proc/self/fd").iterdir()))
