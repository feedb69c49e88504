"""Which log records to keep: `LogFilter`, its time parsing, and job-prefix resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pixelmill.errors import ConfigError
from pixelmill.logs._summary import timestamp_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

from pixelmill.runtime.log_writer import LEVELS

__all__ = ["LEVELS", "LogFilter", "parse_time", "resolve_job"]

"""Log levels, least severe first."""

_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: datetime, *, flag: str = "since") -> datetime:
    """Read a `since` / `until` value: an ISO time, or a duration meaning "ago".

    Args:
        text: `2026-11-28T17:18:25Z`, `2026-11-28 17:18`, `2026-11-28`, or a
            duration `90s`, `10m`, `2h`, `1d`, `1w` (decimals allowed: `1.5h`).
            An ISO time without an offset is UTC, like the log's timestamps.
        now: what a duration counts back from; naive means UTC.
        flag: what the error names: the field, or the command line's flag (`--since`).

    Returns:
        An aware UTC datetime.

    Raises:
        ConfigError: `since: expected an ISO time or a duration like 10m, got "..."`.
    """
    stripped = text.strip()
    if match := _DURATION.fullmatch(stripped):
        return _utc(now) - timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    try:
        return _utc(datetime.fromisoformat(stripped))
    except ValueError as exc:
        message = f'{flag}: expected an ISO time or a duration like 10m, got "{text}"'
        raise ConfigError(message) from exc


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    """Which records to keep; every criterion given must hold, None means any.

    A record that lacks the field a criterion looks at does not match it:
    `job="ab"` drops `runtime.started`, `reason="input"` drops `item.done`,
    `since=...` drops a record without a readable timestamp.

    Raises:
        ConfigError: for an unknown level, an empty reason, or `until` not
            after `since`; the message starts with the field's name
            (`level: ...`).
    """

    job: str | None = None
    """A job id, or a prefix of one; see `resolve_job` to insist it is unique."""
    item: str | None = None
    """A substring of the item's path."""
    level: str | None = None
    """The least severe level kept, one of `LEVELS` in any case."""
    actor: str | None = None
    """The actor role, exactly (`job_manager`, `supervisor`, ...)."""
    event: str | None = None
    """An event name or glob (`item.*`); commas separate alternatives."""
    reason: str | None = None
    """A failure's dotted class (`input.truncated`), or a class with every class
    below it (`input` or `input.`: `input.truncated`, `input.not_image`, ...); a
    glob (`*.transient`) also works, and commas separate alternatives."""
    since: datetime | None = None
    """Keep records at or after this time; naive means UTC."""
    until: datetime | None = None
    """Keep records before this time; naive means UTC."""

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__, as dataclasses do.
        if self.level is not None:
            if self.level.lower() not in _RANK:
                levels = ", ".join(LEVELS)
                raise ConfigError(f'level: expected one of {levels}, got "{self.level}"')
            object.__setattr__(self, "level", self.level.lower())
        if self.reason is not None and not all(
            part.strip(" .") for part in self.reason.split(",")
        ):
            raise ConfigError(
                f'reason: expected a dotted class such as input.truncated or input., '
                f'got "{self.reason}"'
            )
        for name in ("since", "until"):
            if (moment := getattr(self, name)) is not None:
                object.__setattr__(self, name, _utc(moment))
        if self.since is not None and self.until is not None and self.until <= self.since:
            message = f"until: {self.until:%Y-%m-%d %H:%M:%S} UTC is not after since"
            raise ConfigError(f"{message} ({self.since:%Y-%m-%d %H:%M:%S} UTC)")

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether the record meets every criterion."""
        if self.job is not None and not str(record.get("job_id") or "").startswith(self.job):
            return False
        if self.item is not None and self.item not in str(record.get("item") or ""):
            return False
        if self.level is not None and (
            _RANK.get(str(record.get("level")), _RANK["info"]) < _RANK[self.level]
        ):
            return False
        if self.actor is not None and record.get("actor") != self.actor:
            return False
        if self.event is not None:
            event = str(record.get("event") or "")
            if not any(fnmatchcase(event, glob.strip()) for glob in self.event.split(",")):
                return False
        if self.reason is not None and not _reason_matches(record.get("reason"), self.reason):
            return False
        if self.since is not None or self.until is not None:
            moment = timestamp_of(record)
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True


def _reason_matches(reason: object, wanted: str) -> bool:
    if not reason:
        return False
    reason = str(reason)
    for part in wanted.split(","):
        pattern = part.strip()
        cls = pattern.rstrip(".")
        if reason == cls or reason.startswith(f"{cls}.") or fnmatchcase(reason, pattern):
            return True
    return False


def resolve_job(prefix: str, records: Iterable[Mapping[str, Any]]) -> str:
    """The one job id in the records that starts with `prefix`.

    Raises:
        ConfigError: `job: ...` if no job or several jobs start with it.
    """
    found = {
        job_id
        for record in records
        if isinstance(job_id := record.get("job_id"), str) and job_id.startswith(prefix)
    }
    if prefix in found:
        return prefix
    if len(found) == 1:
        return found.pop()
    if not found:
        raise ConfigError(f'job: no job id in the logs starts with "{prefix}"')
    shown = ", ".join(sorted(found)[:5]) + (", ..." if len(found) > 5 else "")
    raise ConfigError(f'job: "{prefix}" starts {len(found)} job ids ({shown}); give more of it')
