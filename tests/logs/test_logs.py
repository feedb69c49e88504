"""Reading logs back: streaming, filters, the summary, rendering and following."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from pixelmill.errors import ConfigError
from pixelmill.logs import (
    LogFilter,
    LogReader,
    SlowItem,
    follow,
    parse_time,
    read_records,
    render_records,
    render_summary,
    resolve_job,
    summarize,
)
from pixelmill.runtime.log_writer import make_logger

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
JOB_A, JOB_B = "aaaa1111bbbb", "aaaa2222cccc"


def rec(event: str, at: float = 0.0, level: str = "info", **fields: Any) -> dict[str, Any]:
    """A record as the runtime's logger writes it, `at` seconds after T0."""
    stamp = (T0 + timedelta(seconds=at)).isoformat(timespec="microseconds")
    return {**fields, "event": event, "level": level, "timestamp": stamp.replace("+00:00", "Z")}


def write_log(path: Path, records: list[dict[str, Any]], tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def job_log() -> list[dict[str, Any]]:
    """Two jobs: A finishes after a retried item and a skipped one; B crashes things and
    never finishes."""
    a = {"job_id": JOB_A, "actor": "job_manager"}
    b = {"job_id": JOB_B, "actor": "job_manager"}
    return [
        rec("runtime.started", 0, workers=2),
        rec("job.submitted", 1, **a, name="alpha"),
        rec("item.done", 2, **a, item="/in/a1.png", attempt=1, duration_ms=120.0),
        rec("item.failed", 3, "warning", **a, item="/in/a2.png", attempt=1,
            reason="input.truncated", error="/in/a2.png: truncated or corrupt image data"),
        rec("item.failed", 4, "warning", **a, item="/in/a3.png", attempt=1,
            reason="io.transient", error="EIO"),
        rec("item.retry", 5, **a, item="/in/a3.png", attempt=2, after_s=0.1),
        rec("item.failed", 6, "warning", **a, item="/in/a3.png", attempt=2,
            reason="io.transient", error="EAGAIN"),
        rec("item.retry", 7, **a, item="/in/a3.png", attempt=3, after_s=0.2),
        rec("item.done", 8, **a, item="/in/a3.png", attempt=3, duration_ms=300.0),
        rec("item.done", 9, **a, item="/in/a4.png", attempt=1, duration_ms=50.0),
        rec("job.finished", 10, **a, status="completed", reason=None, duration_ms=9000.0,
            total=4, done=3, failed=0, skipped=1, cancelled=0),
        rec("job.submitted", 11, **b, name="beta"),
        rec("item.done", 12, **b, item="/in/b1.png", attempt=1, duration_ms=300.0),
        rec("item.failed", 13, "warning", **b, item="/in/b2.png", attempt=1,
            reason="input.truncated", error="/in/b2.png: truncated"),
        rec("item.failed", 13.5, "warning", **b, item="/in/b2.png", attempt=1,
            reason="input.truncated", error="/in/b2.png: truncated"),
        rec("actor.crashed", 14, "error", actor="exporter", reason="internal.error",
            error="KeyError('x')"),
        rec("actor.restarted", 15, "warning", actor="supervisor", role="exporter",
            error="KeyError('x')"),
        rec("processor.restarted", 16, "warning", actor="processor_pool", worker=1, error="gone"),
        rec("worker.replaced", 17, "warning", actor="processor_pool", why="timeout"),
        rec("dead_letter", 18, "warning", actor="exporter", message_type="Foo", message="Foo()"),
        rec("runtime.stopped", 19),
    ]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "run.jsonl", job_log())


def events(records: Any) -> list[str]:
    return [r["event"] for r in records]


# -- reading -------------------------------------------------------------------


def test_records_stream_from_several_files_in_the_order_given(tmp_path: Path) -> None:
    first = write_log(tmp_path / "b.jsonl", [rec("one"), rec("two")])
    second = write_log(tmp_path / "a.jsonl", [rec("three")])
    assert events(read_records([first, second])) == ["one", "two", "three"]


def test_a_directory_reads_its_jsonl_files_sorted_by_name(tmp_path: Path) -> None:
    write_log(tmp_path / "logs" / "run-2.jsonl", [rec("second")])
    write_log(tmp_path / "logs" / "run-1.jsonl", [rec("first")])
    (tmp_path / "logs" / "notes.txt").write_text("not a log")
    assert events(read_records([tmp_path / "logs"])) == ["first", "second"]


def test_torn_and_garbage_lines_are_skipped_and_counted_with_where_the_first_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(
        b'{"event": "one"}\n'
        b"\n"  # blank: not a record, but not damage either
        b"garbage\n"
        b"[1, 2]\n"  # JSON, but not an object
        b'{"event": "\xff\xfe"}\n'  # not UTF-8
        b'{"event": "two"}\n'
        b'{"event": "torn", "lev'
    )
    reader = LogReader()
    assert events(reader.read([path])) == ["one", "two"]
    assert reader.skipped == 4
    assert reader.first_skipped == f"{path}:3"


def test_one_path_or_str_or_any_iterable_of_them_is_read_like_a_list(tmp_path: Path) -> None:
    log = write_log(tmp_path / "logs" / "run.jsonl", [rec("one"), rec("two")])
    for paths in (log, str(log), log.parent, str(log.parent), [str(log)], (p for p in [log])):
        assert events(read_records(paths)) == ["one", "two"], paths
    assert events(LogReader().read(str(log))) == ["one", "two"]
    assert events(follow(str(log), stop=lambda: True)) == ["one", "two"]


def test_a_missing_path_or_an_empty_directory_is_a_config_error_before_any_record(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="no such log file"):
        read_records([tmp_path / "nope.jsonl"])
    for missing in (tmp_path / "nope.jsonl", str(tmp_path / "nope.jsonl")):
        with pytest.raises(ConfigError) as error:
            read_records(missing)
        assert str(error.value) == f"{tmp_path / 'nope.jsonl'}: no such log file or directory"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.jsonl log"):
        read_records([tmp_path / "empty"])


def test_records_written_by_the_runtime_logger_read_back_field_for_field(tmp_path: Path) -> None:
    logger, sink = make_logger(tmp_path / "run.jsonl")
    logger.warning("item.failed", job_id=JOB_A, item="/in/x.png", attempt=1, worker=None)
    sink.close()
    (record,) = read_records([tmp_path / "run.jsonl"])
    assert record["event"] == "item.failed"
    assert record["level"] == "warning"
    assert record["worker"] is None
    assert LogFilter(since=datetime.now(UTC) - timedelta(minutes=1)).matches(record)


# -- filters -------------------------------------------------------------------


def kept(log: Path, since: str | None = None, until: str | None = None, **flags: Any) -> list[str]:
    """The events of the records a filter keeps, built as the CLI builds it."""
    now = T0 + timedelta(seconds=20)
    flt = LogFilter(
        since=parse_time(since, now, flag="--since") if since else None,
        until=parse_time(until, now, flag="--until") if until else None,
        **flags,
    )
    return [r["event"] for r in read_records([log]) if flt.matches(r)]


def test_level_keeps_that_level_and_the_more_severe_ones(log: Path) -> None:
    assert kept(log, level="error") == ["actor.crashed"]
    assert kept(log, level="WARNING").count("item.failed") == 5
    assert "item.done" not in kept(log, level="warning")
    assert len(kept(log, level="debug")) == len(job_log())


def test_job_matches_a_prefix_of_the_id_and_drops_records_without_one(log: Path) -> None:
    assert kept(log, job="aaaa2") == ["job.submitted", "item.done", "item.failed", "item.failed"]
    assert len(kept(log, job="aaaa")) == 14


def test_item_matches_a_substring_of_the_path(log: Path) -> None:
    assert kept(log, item="a3.p") == ["item.failed", "item.retry", "item.failed", "item.retry",
                                      "item.done"]


def test_actor_matches_the_role_exactly(log: Path) -> None:
    assert kept(log, actor="processor_pool") == ["processor.restarted", "worker.replaced"]
    assert kept(log, actor="processor") == []


def test_event_takes_an_exact_name_a_glob_or_several_separated_by_commas(log: Path) -> None:
    assert kept(log, event="job.finished") == ["job.finished"]
    assert set(kept(log, event="item.*")) == {"item.done", "item.failed", "item.retry"}
    assert kept(log, event="runtime.*, dead_letter") == [
        "runtime.started", "dead_letter", "runtime.stopped"]


def test_since_and_until_take_relative_durations_and_absolute_times(log: Path) -> None:
    # The log spans T0 to T0+19 s; "now" in kept() is T0+20 s.
    assert kept(log, since="2s") == ["dead_letter", "runtime.stopped"]
    assert kept(log, since="2026-11-28T17:00:18Z") == ["dead_letter", "runtime.stopped"]
    assert kept(log, until="2026-11-28 17:00:01") == ["runtime.started"]
    assert kept(log, since="2026-11-28T18:00:16+01:00", until="3.5s") == [
        "processor.restarted"]


def test_time_filters_drop_records_without_a_readable_timestamp() -> None:
    flt = LogFilter(since=T0 - timedelta(days=1))
    assert flt.matches({"timestamp": T0.isoformat()})
    assert not flt.matches({"event": "x"})
    assert not flt.matches({"timestamp": "yesterday"})


@pytest.mark.parametrize(
    ("text", "ago"),
    [("90s", timedelta(seconds=90)), ("10m", timedelta(minutes=10)),
     ("2h", timedelta(hours=2)), ("1.5h", timedelta(minutes=90)), ("1d", timedelta(days=1)),
     ("1w", timedelta(weeks=1))],
)
def test_a_duration_means_that_long_ago(text: str, ago: timedelta) -> None:
    assert parse_time(text, T0) == T0 - ago


def test_an_iso_time_without_an_offset_is_utc_and_one_with_an_offset_is_converted() -> None:
    assert parse_time("2026-11-28", T0) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_time("2026-11-28T18:30+01:00", T0) == datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
    assert parse_time("2026-11-28T17:18:25.354852Z", T0).microsecond == 354852


def test_a_bad_time_names_the_field_or_the_flag_given_and_quotes_the_value() -> None:
    with pytest.raises(ConfigError) as error:
        parse_time("yesterdayish", T0)
    assert str(error.value) == (
        'since: expected an ISO time or a duration like 10m, got "yesterdayish"')
    with pytest.raises(ConfigError, match=r"^--until: "):
        parse_time("10 minutes", T0, flag="--until")


def test_a_bad_level_reason_or_an_until_before_since_names_the_field_not_a_flag() -> None:
    with pytest.raises(ConfigError, match=r'^level: expected one of debug, .*got "Loud"'):
        LogFilter(level="Loud")
    with pytest.raises(ConfigError, match=r"^until: .* UTC is not after since \(.* UTC\)$"):
        LogFilter(since=parse_time("1h", T0), until=parse_time("2h", T0))
    for empty in ("", " ", ".", "input.,"):
        with pytest.raises(ConfigError, match=r'^reason: expected a dotted class'):
            LogFilter(reason=empty)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("input.truncated", ["item.failed"] * 3),
        ("input", ["item.failed"] * 3),
        ("input.", ["item.failed"] * 3),
        ("io.transient", ["item.failed"] * 2),
        ("input.trunc", []),  # a class is matched whole, never by part of a name
        ("*.error", ["actor.crashed"]),
        ("io., internal.error", ["item.failed", "item.failed", "actor.crashed"]),
    ],
)
def test_reason_keeps_a_failure_class_or_every_class_below_it(
    log: Path, reason: str, expected: list[str]
) -> None:
    assert kept(log, reason=reason) == expected


def test_a_record_without_a_reason_never_matches_one(log: Path) -> None:
    # job.finished carries `reason: null`; item.done carries none at all.
    assert kept(log, reason="*") == ["item.failed"] * 5 + ["actor.crashed"]


def test_resolve_job_gives_the_one_id_a_prefix_starts_and_refuses_ambiguity(log: Path) -> None:
    assert resolve_job("aaaa1", read_records([log])) == JOB_A
    assert resolve_job(JOB_B, read_records([log])) == JOB_B
    with pytest.raises(ConfigError, match=rf'"aaaa" starts 2 job ids \({JOB_A}, {JOB_B}\)'):
        resolve_job("aaaa", read_records([log]))
    with pytest.raises(ConfigError, match=r'^job: no job id in the logs starts with "zz"'):
        resolve_job("zz", read_records([log]))


# -- summary -------------------------------------------------------------------


def test_the_summary_counts_records_and_events_exactly(log: Path) -> None:
    summary = summarize(read_records([log]))
    assert summary.records == 21
    assert summary.events == {
        "item.failed": 5, "item.done": 4, "job.submitted": 2, "item.retry": 2,
        "runtime.started": 1, "job.finished": 1, "actor.crashed": 1, "actor.restarted": 1,
        "processor.restarted": 1, "worker.replaced": 1, "dead_letter": 1, "runtime.stopped": 1,
    }
    assert (summary.first, summary.last) == (job_log()[0]["timestamp"], job_log()[-1]["timestamp"])


def test_the_summary_gives_each_job_a_timeline_finished_or_not(log: Path) -> None:
    alpha, beta = summarize(read_records([log])).jobs
    assert (alpha.job_id, alpha.name, alpha.status, alpha.duration_ms) == (
        JOB_A, "alpha", "completed", 9000.0)
    assert (alpha.submitted, alpha.first_item, alpha.finished) == tuple(
        job_log()[i]["timestamp"] for i in (1, 2, 10))
    assert alpha.counts is not None
    assert alpha.counts.as_dict() == {"total": 4, "done": 3, "cached": 0, "failed": 0, "skipped": 1,
                                      "cancelled": 0}
    assert (alpha.items_done, alpha.item_failures, alpha.retries) == (3, 3, 2)
    assert (beta.job_id, beta.status, beta.finished, beta.counts) == (JOB_B, None, None, None)
    assert (beta.items_done, beta.item_failures) == (1, 2)


def test_errors_are_grouped_by_reason_most_frequent_first_with_distinct_examples(
    log: Path,
) -> None:
    errors = summarize(read_records([log])).errors
    assert [(e.reason, e.count) for e in errors] == [
        ("input.truncated", 3), ("io.transient", 2), ("internal.error", 1)]
    truncated, transient, crashed = errors
    assert truncated.examples == ("/in/a2.png", "/in/b2.png")
    assert truncated.message == "/in/a2.png: truncated or corrupt image data"
    assert (transient.examples, transient.message) == (("/in/a3.png",), "EIO")
    assert (crashed.examples, crashed.message) == ((), "KeyError('x')")


def test_error_examples_stop_at_three_files() -> None:
    records = [rec("item.failed", item=f"/in/{n}.png", reason="input.truncated", error="x")
               for n in range(10)]
    (group,) = summarize(records).errors
    assert group.count == 10
    assert group.examples == ("/in/0.png", "/in/1.png", "/in/2.png")


def test_the_slowest_items_come_slowest_first_and_ties_keep_log_order(log: Path) -> None:
    summary = summarize(read_records([log]), slowest=3)
    assert summary.slowest == (
        SlowItem(item="/in/a3.png", duration_ms=300.0, job_id=JOB_A),
        SlowItem(item="/in/b1.png", duration_ms=300.0, job_id=JOB_B),
        SlowItem(item="/in/a1.png", duration_ms=120.0, job_id=JOB_A),
    )


def test_the_slowest_items_are_kept_in_a_bounded_heap_over_a_single_pass() -> None:
    durations = [5.0, 50.0, 1.0, 40.0, 30.0, 45.0, 2.0]
    records = iter([rec("item.done", item=f"/{d}", duration_ms=d) for d in durations])
    summary = summarize(records, slowest=2)  # an iterator: it can only be read once
    assert [s.duration_ms for s in summary.slowest] == [50.0, 45.0]


def test_retries_restarts_and_dead_letters_are_counted(log: Path) -> None:
    summary = summarize(read_records([log]))
    assert (summary.retries, summary.items_retried) == (2, 1)
    assert summary.restarts == {
        "actor.restarted": {"exporter": 1},
        "processor.restarted": {"1": 1},
        "worker.replaced": {"timeout": 1},
    }
    assert summary.dead_letters == {"Foo": 1}


def test_the_summary_renders_as_tables_or_as_one_json_document(log: Path) -> None:
    summary = summarize(read_records([log]))
    out = io.StringIO()
    render_summary(summary, Console(file=out, width=200), as_json=False)
    text = out.getvalue()
    for expected in ("21 records, 2026-11-28 17:00:00 to 17:00:19 UTC, 2 jobs", "aaaa1111",
                     "completed", "unfinished", "input.truncated", "/in/a3.png", "Foo"):
        assert expected in text
    out = io.StringIO()
    render_summary(summary, Console(file=out), as_json=True)
    document = json.loads(out.getvalue())
    assert document == json.loads(json.dumps(summary.as_dict()))
    assert document["jobs"][0]["counts"]["skipped"] == 1
    assert document["errors"][0]["reason"] == "input.truncated"


# -- rendering records ---------------------------------------------------------


def test_json_output_passes_each_line_through_byte_for_byte(tmp_path: Path) -> None:
    lines = [
        '{"event":"compact","n":1.50,"e":1e3}',
        '{ "event" : "spaced",   "path": "/in/\\u00e9t\\u00e9.png" }',
        '{"event": "unicode", "path": "/in/été.png", "nested": {"a": [1, 2]}}',
    ]
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    printed = render_records(read_records([path]), Console(file=out), as_json=True)
    assert printed == 3
    assert out.getvalue().splitlines() == lines


def test_json_output_of_plain_mappings_matches_the_logger() -> None:
    out = io.StringIO()
    render_records([{"event": "x", "item": "/été"}], Console(file=out), as_json=True)
    assert out.getvalue() == '{"event": "x", "item": "/\\u00e9t\\u00e9"}\n'


def test_a_readable_line_has_time_level_event_short_job_file_fields_and_actor(log: Path) -> None:
    out = io.StringIO()
    failed = [r for r in read_records([log]) if r["event"] == "item.failed"][:1]
    render_records(failed, Console(file=out, width=80), as_json=False)
    assert out.getvalue().splitlines() == [
        "-- 2026-11-28 --",
        "17:00:03.000 warn  item.failed       aaaa1111 a2.png attempt=1 reason=input.truncated "
        'error="truncated or corrupt image data" (job_manager)',
    ]


def test_a_readable_line_escapes_control_characters_and_colours_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    render_records([rec("evil\x1b[2J", level="error", note="\x1b]0;title\x07")], console,
                   as_json=False)
    text = out.getvalue()
    assert "\x1b[2J" not in text
    assert "\x1b]0" not in text
    assert "evil\\u001b[2J" in text
    assert "\x1b[1;31m" in text  # the level in bold red


# -- following -----------------------------------------------------------------


def test_follow_sees_lines_another_thread_appends_and_stops_after_its_job_finishes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logs" / "run.jsonl"  # does not exist yet
    records = [
        rec("job.submitted", job_id=JOB_A), rec("job.submitted", job_id=JOB_B),
        rec("job.finished", job_id=JOB_A), rec("item.done", job_id=JOB_B),
        rec("job.finished", job_id=JOB_B), rec("runtime.stopped"),
    ]

    def write() -> None:
        time.sleep(0.02)
        path.parent.mkdir()
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                line = json.dumps(record)
                # Half a line first: follow must wait for the newline.
                handle.write(line[:10])
                handle.flush()
                time.sleep(0.005)
                handle.write(line[10:] + "\n")
                handle.flush()

    deadline = time.monotonic() + 10
    writer = threading.Thread(target=write)
    writer.start()
    reader = LogReader()
    seen = list(reader.follow(path, poll_s=0.002, until_job_finished="aaaa22",
                              stop=lambda: time.monotonic() > deadline))
    writer.join(10)
    # NOTE: the deadline only bounds a broken follow; ending by it would fail here.
    assert time.monotonic() < deadline
    assert [(r["event"], r.get("job_id")) for r in seen] == [
        (r["event"], r.get("job_id")) for r in records[:5]]
    assert reader.skipped == 0


def test_follow_waits_for_the_newline_of_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"event": "one"}\n{"event": "tw')
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            with path.open("a") as handle:
                handle.write('o"}\n')
        return calls > 2

    assert events(follow(path, poll_s=0, stop=stop)) == ["one", "two"]


def test_follow_reads_to_the_end_when_stopped_and_counts_a_torn_last_line(
    tmp_path: Path,
) -> None:
    path = write_log(tmp_path / "run.jsonl", [rec("one"), rec("two")], tail='{"event": "to')
    reader = LogReader()
    assert events(reader.follow(path, poll_s=0, stop=lambda: True)) == ["one", "two"]
    assert reader.skipped == 1
