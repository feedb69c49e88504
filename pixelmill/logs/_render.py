"""How `pixelmill logs` prints records: one readable line each, or their JSON unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from rich.text import Text

from pixelmill.logs._summary import _without_path, timestamp_of

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["render_records"]


_LEVEL_TAGS = {"debug": ("debug", "dim"), "info": ("info", "green"),
               "warning": ("warn", "yellow"), "error": ("error", "bold red"),
               "critical": ("crit", "bold white on red")}
# Shown in their own columns, so not again as key=value.
_COLUMNS = frozenset({"timestamp", "level", "event", "job_id", "item", "actor"})


def render_records(
    records: Iterable[Mapping[str, Any]], console: Console, *, as_json: bool
) -> int:
    """Print records one line each, each as soon as it arrives (so it can show `follow`).

    Args:
        records: what to print.
        console: where to print. JSON, and lines for a console without
            colours (a pipe), go straight to `console.file`: rich would add
            nothing to them but time.
        as_json: print each record's own line unchanged for `jq` (a
            `LogRecord` keeps it; other mappings are dumped as the logger
            dumps them). Otherwise: UTC time, coloured level, event, short job
            id, file name, the other fields as `key=value`, then the actor; a
            dim date line starts each day.

    Returns:
        How many records were printed.
    """
    printed = 0
    day = None
    styled = console.color_system is not None
    for record in records:
        printed += 1
        if as_json:
            line = getattr(record, "line", None)
            if line is None:
                line = json.dumps(record, default=str, ensure_ascii=True)
            console.file.write(line + "\n")
        else:
            moment = timestamp_of(record)
            text = _readable(record, moment)
            if moment is not None and moment.date() != day:
                day = moment.date()
                text = Text.assemble((f"-- {day.isoformat()} --\n", "dim"), text)
            if styled:
                console.print(text, soft_wrap=True)
            else:
                console.file.write(text.plain + "\n")
        console.file.flush()
    return printed


def _readable(record: Mapping[str, Any], moment: datetime | None) -> Text:
    level = str(record.get("level", ""))
    tag, style = _LEVEL_TAGS.get(level, (_safe(level[:5]), ""))
    text = Text()
    text.append(f"{moment:%H:%M:%S.%f}"[:12] if moment else "??:??:??.???", style="dim")
    text.append(f" {tag:<5} ", style=style)
    text.append(f"{_safe(record.get('event', '?')):<17}", style="bold")
    if job_id := record.get("job_id"):
        text.append(f" {_safe(job_id)[:8]}", style="cyan")
    item = str(record.get("item") or "")
    if item:
        text.append(f" {_safe(PurePath(item).name)}", style="magenta")
    for key, value in record.items():
        if key in _COLUMNS or value is None:
            continue
        if key == "error" and item:
            value = _without_path(str(value), [item])
        text.append(f" {_safe(key)}=", style="dim")
        text.append(_value(value), style="red" if key in ("error", "reason") else "")
    if actor := record.get("actor"):
        text.append(f" ({_safe(actor)})", style="dim")
    text.rstrip()
    return text


def _value(value: object) -> str:
    if isinstance(value, str) and value.isprintable() and not any(
        c.isspace() or c == '"' for c in value
    ):
        return value or '""'
    return json.dumps(value, default=str, ensure_ascii=not str(value).isprintable(),
                      separators=(",", ":"))


def _safe(value: object) -> str:
    """The text of a value, with control characters escaped: a log must not steer a terminal."""
    text = str(value)
    return text if text.isprintable() else json.dumps(text)[1:-1]
