"""How a backend's own sign of a dead worker becomes `BrokenWorkerError`."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TypeVar

from pixelmill.errors import BrokenWorkerError

__all__ = ["broken_on"]

T = TypeVar("T")


def broken_on(deaths: tuple[type[BaseException], ...], future: Future[T]) -> Future[T]:
    """`future`, except that the errors in `deaths` fail it as `BrokenWorkerError`.

    The original error is the new one's `__cause__`; a cancelled `future`
    cancels the returned one. Callbacks run in whichever thread completes
    `future`.
    """
    translated: Future[T] = Future()

    def copy(done: Future[T]) -> None:
        if done.cancelled():
            translated.cancel()
            return
        error = done.exception()
        if error is None:
            translated.set_result(done.result())
        elif isinstance(error, deaths):
            broken = BrokenWorkerError(f"the worker process died: {type(error).__name__}")
            broken.__cause__ = error
            translated.set_exception(broken)
        else:
            translated.set_exception(error)

    future.add_done_callback(copy)
    return translated
