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


def _state_in(directory: object) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIXELMILL_STATE", str(directory))
        yield


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runtimes keep their job store in a temporary dir of each test's own, never in
    the real home: so no test finds another's jobs, or its work in the result cache."""
    yield from _state_in(tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session", autouse=True)
def _session_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for what outlives a test (a module's Runtime): made before any of it,
    so not even a module- or session-scoped Runtime writes to the real home."""
    yield from _state_in(tmp_path_factory.mktemp("session-state"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every `pytest.mark.anyio` test runs twice: on asyncio and on trio (anyio's plugin)."""
    return str(request.param)


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
