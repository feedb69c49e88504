"""Telling an actor that may have died: the one place that decides it is no error."""

from __future__ import annotations

from typing import Any

import pykka

__all__ = ["tell_if_alive"]


def tell_if_alive(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell `message` to `ref`; False if its actor has died.

    A message for a dead actor has nobody to act on it: the sender decides what
    that means (drop a subscriber, free a lease), and the actor's death is its
    supervisor's to deal with.
    """
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True
