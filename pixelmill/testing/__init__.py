"""What hosts need to test against pixelmill: a probe actor, a context, image fixtures."""

from __future__ import annotations

import queue
import time
from typing import TYPE_CHECKING, Any, TypeVar

import pykka

from pixelmill.errors import PixelmillError
from pixelmill.messages import InjectCrash
from pixelmill.testing.images import (
    write_broken_files,
    write_gradient,
    write_image,
    write_photo_like,
    write_sample_set,
)
from pixelmill.testing.processes import is_gone, live_workers

if TYPE_CHECKING:
    from collections.abc import Callable

    from pixelmill.actors.base import ActorContext
    from pixelmill.actors.timer import Timer
    from pixelmill.runtime.runtime import Runtime

__all__ = [
    "Probe",
    "crash_actor",
    "is_gone",
    "live_workers",
    "make_context",
    "wait_until",
    "write_broken_files",
    "write_gradient",
    "write_image",
    "write_photo_like",
    "write_sample_set",
]

_M = TypeVar("_M")


class _Sync:
    """Marks a point in a probe's inbox: everything told before it has arrived."""

    __slots__ = ()


class _Recorder(pykka.ThreadingActor):
    def __init__(self, inbox: queue.Queue[Any]) -> None:
        super().__init__()
        self._inbox = inbox

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Sync):
            self._inbox.put(message)


class Probe:
    """An actor that records what it receives, for a test to assert on.

    Pass `probe.ref` as a `reply_to` or listener, then `probe.expect(ItemDone)`.
    Stop it with `probe.stop()` (or use it as a context manager).
    """

    def __init__(self) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue()
        self.ref: pykka.ActorRef[Any] = _Recorder.start(self._inbox)
        self.received: list[Any] = []
        """Every message taken by `expect` or `next`, in order."""

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def next(self, timeout: float = 5.0) -> Any:
        """The next message, whatever its type; raises `AssertionError` on timeout."""
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the probe received nothing within {timeout} s") from None
        self.received.append(message)
        return message

    def expect(self, kind: type[_M], timeout: float = 5.0) -> _M:
        """The next message of type `kind`, skipping others (kept in `received`)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [type(m).__name__ for m in self.received[-10:]]
                raise AssertionError(f"no {kind.__name__} within {timeout} s; last seen {seen}")
            message = self.next(remaining)
            if isinstance(message, kind):
                return message

    def expect_nothing(self, within: float = 0.2) -> None:
        """Assert that no message arrives within `within` seconds."""
        try:
            message = self._inbox.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"expected no message, got {message!r}")

    def drain(self) -> list[Any]:
        """Every message told to the probe so far, in order, and nothing later.

        Ask the sender something first (e.g. `GetBudget`), so that what it
        told the probe before answering has been told already.
        """
        self.ref.ask(_Sync(), timeout=5)
        drained = []
        while not self._inbox.empty():
            drained.append(self._inbox.get_nowait())
        self.received.extend(drained)
        return drained

    def stop(self) -> None:
        self.ref.stop(block=True)


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Return once `predicate()` is true, polling every few milliseconds.

    Raises:
        AssertionError: it was still false after `timeout` seconds (naming `what`).
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.005)


def crash_actor(runtime: Runtime, role: str, timeout: float = 10.0) -> None:
    """Make the actor playing `role` in `runtime` die now, as a bug would make it.

    It raises `InjectedCrashError` on the message, loses its inbox, and its
    supervisor replaces it (for the Supervisor, the Runtime's guardian does).
    Returns once it is dead and replaced, or the runtime broke of it.

    Raises:
        AssertionError: it was not dead and replaced within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    ref = runtime._actor(role, deadline)  # noqa: SLF001 - a drill reaches inside
    ref.tell(InjectCrash())
    if not ref.actor_stopped.wait(timeout):
        raise AssertionError(f"the {role} did not die of an injected crash")
    while time.monotonic() < deadline:
        if runtime._handles.broken is not None:  # noqa: SLF001
            return
        try:
            if runtime._actor(role, deadline) is not ref:  # noqa: SLF001
                return
        except PixelmillError:
            return  # the runtime broke of it
        time.sleep(0.01)
    raise AssertionError(f"the {role} was not replaced within {timeout} s")


def make_context(
    peers: dict[str, pykka.ActorRef[Any]] | None = None, timer: Timer | None = None
) -> ActorContext:
    """An `ActorContext` for starting one actor alone in a test; no log file."""
    # Imported here, not at the top, so that these internals do not become
    # names of this public module (tests/test_exports.py).
    from pixelmill.actors.base import ActorContext
    from pixelmill.actors.timer import Timer
    from pixelmill.runtime.log_writer import make_logger

    log, _ = make_logger(None)
    return ActorContext(log=log, timer=timer or Timer(), peers=dict(peers or {}))
