"""The one decorator every message class is made with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["message"]

message = dataclass(frozen=True, slots=True, kw_only=True)
"""Frozen, slotted, keyword-only: immutable, small, and explicit at every send."""
