"""Fixtures of the store tests: a fresh store file, and a writer on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pixelmill.store import JobStore

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.sqlite3"


@pytest.fixture
def store(store_path: Path) -> Iterator[JobStore]:
    """A writer that buffers until flushed: no batch fills, no interval passes."""
    with JobStore(store_path, batch_size=10_000, batch_interval_s=3600) as store:
        yield store
