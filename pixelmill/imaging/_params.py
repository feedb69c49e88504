"""Declarative parameter specs for steps: a name, a coercer and a default."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REQUIRED",
    "Coerce",
    "Param",
    "boolean",
    "choice",
    "integer",
    "number",
    "size_pair",
    "text",
]

Coerce = Callable[[Any], Any]
"""Turns a raw value into its normal form, or raises `ValueError("expected ...")`.

The message of the `ValueError` says what was expected; the caller adds the
step, the parameter and the value it got.
"""

REQUIRED: Any = object()
"""The default of a parameter that has none: leaving it out is an error."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a step."""

    name: str
    coerce: Coerce
    default: Any = REQUIRED
    """Filled in when the parameter is left out; `REQUIRED` makes it mandatory."""


def _whole(value: Any) -> int | None:
    # bool is an int subclass, but `size: true` is never meant as 1.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def integer(low: int = 1, high: int | None = None) -> Coerce:
    """Whole numbers in `low..high`; integral floats and digit strings are accepted."""
    if high is not None:
        expected = f"an integer from {low} to {high}"
    elif low == 1:
        expected = "a positive integer"
    else:
        expected = f"an integer >= {low}"

    def coerce(value: Any) -> int:
        whole = _whole(value)
        if whole is None or whole < low or (high is not None and whole > high):
            raise ValueError(f"expected {expected}")
        return whole

    return coerce


def number(low: float = -math.inf, high: float = math.inf, *, below_high: bool = False) -> Coerce:
    """Finite real numbers in `low..high` (`low..<high` with `below_high`), as floats."""
    if high < math.inf:
        expected = f"a number from {low:g} to {'below ' if below_high else ''}{high:g}"
    elif low > -math.inf:
        expected = f"a number >= {low:g}"
    else:
        expected = "a finite number"

    def coerce(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"expected {expected}")
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        too_high = result >= high if below_high else result > high
        if not math.isfinite(result) or result < low or too_high:
            raise ValueError(f"expected {expected}")
        return result

    return coerce


def choice(*allowed: str, aliases: dict[str, str] | None = None) -> Coerce:
    """One of `allowed`, compared without case; `aliases` map other spellings onto them."""
    lookup = {name.lower(): name for name in allowed}
    lookup.update({alias.lower(): name for alias, name in (aliases or {}).items()})
    expected = "one of " + ", ".join(allowed)

    def coerce(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in lookup:
            raise ValueError(f"expected {expected}")
        return lookup[value.strip().lower()]

    return coerce


def boolean(value: Any) -> bool:
    """True or false; the strings true/false/yes/no/1/0 and the integers 0/1 are accepted."""
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ValueError("expected true or false")


def size_pair(value: Any) -> tuple[int, int]:
    """A box: one positive integer for a square, or a `(width, height)` pair of them."""
    if isinstance(value, list | tuple):
        if len(value) == 2:
            width, height = _whole(value[0]), _whole(value[1])
            if width is not None and height is not None and width >= 1 and height >= 1:
                return (width, height)
        raise ValueError("expected a [width, height] pair of positive integers")
    single = _whole(value)
    if single is None or single < 1:
        raise ValueError("expected a positive integer")
    return (single, single)


def text(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value
