"""Fixtures shared by the whole suite: actor contexts and clean-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pykka
import pytest

from pixelmill.actors.timer import Timer
from pixelmill.testing import Probe, make_context

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pixelmill.actors.base import ActorContext


@pytest.fixture(autouse=True)
def _stop_all() -> Iterator[None]:
    """No actor outlives its test, whatever the test did."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=30)


@pytest.fixture
def timer() -> Iterator[Timer]:
    timer = Timer()
    yield timer
    timer.close()


@pytest.fixture
def context(timer: Timer) -> ActorContext:
    return make_context(timer=timer)


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()
    yield probe
    if probe.ref.is_alive():
        probe.stop()
