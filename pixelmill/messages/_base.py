"""The one decorator every message class is made with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

__all__ = ["message"]

_T = TypeVar("_T")


# A plain `message = dataclass(frozen=True, ...)` works at runtime, but type
# checkers cannot see through it; dataclass_transform tells them what it makes.
@dataclass_transform(frozen_default=True, kw_only_default=True)
def message(cls: type[_T], /) -> type[_T]:
    """Frozen, slotted, keyword-only: immutable, small, and explicit at every send."""
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)
