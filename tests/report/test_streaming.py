"""A large job's records are read once, as a stream, into a page of bounded size."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pixelmill.report import render_report
from tests.report._page import read_page
from tests.report._records import done_record, histogram, problem_record, summary_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

RECORDS = 20_000
REASONS = ("input.truncated", "input.not_image", "output.no_space", "worker.timeout")


def job_stream(count: int, consumed: list[int]) -> Iterator[dict[str, Any]]:
    """Records as a file yields them: one at a time, never all in memory."""
    shared = histogram()
    for index in range(count):
        consumed[0] += 1
        if index % 5 == 0:
            yield problem_record(index, reason=REASONS[index % 4], status="failed")
        else:
            yield done_record(index, luminance=index % 256, sharpness=1.0 + index, rgb=shared)


def test_a_20000_record_stream_renders_with_a_bounded_gallery_and_lists(tmp_path: Path) -> None:
    consumed = [0]
    summary = summary_of([]) | {"counts": {"total": RECORDS, "done": 16_000, "failed": 4_000}}
    page = render_report(
        summary, job_stream(RECORDS, consumed), export_dir=tmp_path, gallery_limit=60
    )

    assert consumed == [RECORDS]
    reader = read_page(page)
    assert reader.errors == []
    assert len(reader.with_class("item")) == 60
    assert reader.tags["svg"] == 60 + 3
    rows = re.findall(r'<td class="index">', page)
    assert len(rows) == len(REASONS) * 50
    assert "and 950 more" in page
    assert "4,000 items in 4 reason classes" in page
    assert len(page) < 1_500_000


def test_a_stream_of_records_is_read_exactly_once(tmp_path: Path) -> None:
    consumed = [0]
    stream = job_stream(100, consumed)
    render_report(summary_of([]), stream, export_dir=tmp_path)

    assert consumed == [100]
    assert next(stream, None) is None


def test_the_gallery_keeps_the_lowest_indices_whatever_order_records_come_in(
    tmp_path: Path,
) -> None:
    records = [done_record(i) for i in (9, 3, 7, 1, 8, 0, 5)]
    page = render_report(summary_of(records), records, export_dir=tmp_path, gallery_limit=4)

    shown = [int(i) for i in re.findall(r'<span class="meta">#(\d+)', page)]
    assert shown == [0, 1, 3, 5]
    assert "4 of 7 done items" in page
