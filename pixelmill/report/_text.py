"""Text as the report shows it: escaped, surrogate-free, with invisible characters made visible."""

from __future__ import annotations

import html
import math

__all__ = ["display_text", "esc", "format_count", "format_duration", "format_number"]

_NAMED_CONTROLS = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Bidi overrides can make `gpj.exe` read as `exe.jpg`, and line separators break
# a name over lines: always shown as escapes.
_FORMAT_CHARS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
_FORMAT_CHARS += [0x2028, 0x2029]
_VISIBLE = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]},
    **{ord(char): escape for char, escape in _NAMED_CONTROLS.items()},
    **{code: f"\\u{code:04x}" for code in _FORMAT_CHARS},
}
_VISIBLE_KEEPING_LINES = {**_VISIBLE, ord("\n"): "\n", ord("\t"): "\t"}


def display_text(value: object, *, keep_lines: bool = False, limit: int | None = None) -> str:
    r"""`value` as text that is valid UTF-8 and shows every character it has.

    Lone surrogates (a file name whose bytes were not UTF-8, kept by
    `os.fsdecode`) become `\xff`-style escapes of the original bytes, or
    `\udc80`-style escapes when they do not stand for bytes. Control and
    bidi-override characters become escapes too, so a name with a newline
    reads as `a\nb` on one line; `keep_lines` keeps newlines and tabs (for
    messages, shown with `white-space: pre-wrap`).

    Args:
        value: Anything; `None` is the empty string, others go through `str`.
        keep_lines: Keep newlines and tabs as they are.
        limit: Cut the text to this many characters, ending it with an ellipsis.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "\u2026"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _without_surrogates(text)
    return text.translate(_VISIBLE_KEEPING_LINES if keep_lines else _VISIBLE)


def _without_surrogates(text: str) -> str:
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # A surrogate that stands for no byte (not from os.fsdecode).
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def esc(value: object, *, keep_lines: bool = False, limit: int | None = None) -> str:
    """`display_text(value)` escaped for HTML text and quoted attribute values alike."""
    return html.escape(display_text(value, keep_lines=keep_lines, limit=limit), quote=True)


def format_count(count: int) -> str:
    """A count with thousands separators: `12,345`."""
    return f"{count:,}"


def format_number(value: float | None, *, digits: int = 1) -> str:
    """A measurement for people: fixed digits below 10,000, then `12.3k` / `4.56M`."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.{digits}f}"


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: `0.41 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "\u2013"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
