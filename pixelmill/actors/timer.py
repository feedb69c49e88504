"""Delayed messages: pykka has no timers, so one thread per Runtime sends them."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any

import pykka

from pixelmill.actors._tell import tell_if_alive

__all__ = ["Timer"]


class Timer:
    """Tells a message to an actor after a delay, from a single daemon thread.

    Retries with backoff and the Monitor's sampling tick use it. A message
    whose actor has died by its due time is dropped: there is nobody left to
    act on it, and the Supervisor deals with the death itself.
    """

    def __init__(self, name: str = "pixelmill-timer") -> None:
        self._queue: list[tuple[float, int, pykka.ActorRef[Any], Any]] = []
        self._order = itertools.count()
        self._cancelled: set[int] = set()
        self._wakeup = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def tell_later(self, delay_s: float, ref: pykka.ActorRef[Any], message: Any) -> int:
        """Tell `message` to `ref` in `delay_s` seconds; safe from any thread.

        Returns a key for `cancel`.
        """
        due = time.monotonic() + max(0.0, delay_s)
        key = next(self._order)
        with self._wakeup:
            if not self._closed:
                heapq.heappush(self._queue, (due, key, ref, message))
                self._wakeup.notify()
        return key

    def cancel(self, key: int) -> None:
        """Drop a message not yet sent; a key already sent or unknown is ignored."""
        with self._wakeup:
            self._cancelled.add(key)
            # Cancelled entries wait in the heap until due; past half of it,
            # rebuild it so that long delays cancelled early cost no memory.
            if len(self._cancelled) > max(64, len(self._queue) // 2):
                self._queue = [entry for entry in self._queue if entry[1] not in self._cancelled]
                heapq.heapify(self._queue)
                self._cancelled.clear()

    def close(self) -> None:
        """Drop every pending message and stop the thread."""
        with self._wakeup:
            self._closed = True
            self._queue.clear()
            self._wakeup.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wakeup.wait(timeout)
                if self._closed:
                    return
                _, key, ref, message = heapq.heappop(self._queue)
                if key in self._cancelled:
                    self._cancelled.discard(key)
                    continue
            tell_if_alive(ref, message)  # dropped if its actor is gone: see the class docstring
