"""render_report: the page's structure, its escaping, its failure groups and its images."""

from __future__ import annotations

import base64
import io
import re
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from pixelmill.report import _thumbnails, render_report
from pixelmill.report._thumbnails import (
    MAX_THUMBNAIL_BYTES,
    THUMBNAIL_BOX,
    ThumbnailBudget,
    thumbnail_for,
)
from tests.report._page import PageReader, read_page
from tests.report._records import (
    HOSTILE_NAME,
    done_record,
    histogram,
    problem_record,
    summary_of,
)

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

DISTRIBUTION_CHARTS = 3


def render(records: list[dict[str, Any]], export_dir: Path, **options: Any) -> str:
    return render_report(summary_of(records), iter(records), export_dir=export_dir, **options)


def image_links(page: PageReader) -> list[str | None]:
    return [a["href"] for a in page.with_tag("a") if not (a["href"] or "#").startswith("#")]


def mixed_job() -> list[dict[str, Any]]:
    return [
        *(done_record(i, luminance=40.0 + 9 * i, sharpness=10.0 * (i + 1)) for i in range(10)),
        problem_record(10, reason="input.truncated"),
        problem_record(11, reason="input.truncated", status="skipped"),
        problem_record(12, reason="output.no_space"),
        problem_record(13, status="cancelled", reason=None, message=""),
    ]


def test_the_page_parses_with_every_tag_closed_in_order(tmp_path: Path) -> None:
    page = read_page(render(mixed_job(), tmp_path))

    assert page.errors == []
    assert page.tags["html"] == page.tags["body"] == page.tags["main"] == 1


def test_each_gallery_item_has_one_svg_and_the_job_three_distribution_charts(
    tmp_path: Path,
) -> None:
    page = read_page(render(mixed_job(), tmp_path))

    gallery = page.with_class("item")
    assert len(gallery) == 10
    assert page.tags["svg"] == len(gallery) + DISTRIBUTION_CHARTS
    # Three channels, each a filled area under a polyline.
    assert page.tags["polyline"] >= 3 * len(gallery)


def test_every_chart_has_a_title_a_description_and_axis_labels(tmp_path: Path) -> None:
    page = render(mixed_job(), tmp_path)

    charts = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    assert len(charts) == 10 + DISTRIBUTION_CHARTS
    for chart in charts:
        ids = re.search(r'aria-labelledby="([^"]+) ([^"]+)"', chart)
        assert ids is not None
        assert f'<title id="{ids[1]}">' in chart
        assert f'<desc id="{ids[2]}">' in chart
        assert chart.count('class="label"') == 2  # x and y axis
    assert "Laplacian variance (log scale)" in page
    assert "mean luminance (0\u2013255)" in page
    assert "channel mean (0\u2013255)" in page


def test_a_hostile_file_name_shows_as_text_never_as_a_tag(tmp_path: Path) -> None:
    records = [
        done_record(0, path=f"inputs/{HOSTILE_NAME}", outputs=[str(tmp_path / HOSTILE_NAME)]),
        problem_record(1, path=HOSTILE_NAME, message=f"{HOSTILE_NAME}: <b>bad</b> & worse"),
    ]
    page = render(records, tmp_path)
    reader = read_page(page)

    assert reader.errors == []
    assert "<img src=x" not in page
    assert "<b>bad" not in page
    assert all("onerror" not in attrs for attrs in reader.with_tag("img"))
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert HOSTILE_NAME in "".join(reader.text)
    assert "<script" not in page


def test_names_with_newlines_or_undecodable_bytes_show_as_escapes(tmp_path: Path) -> None:
    newline = "inputs/two\nlines.png"
    undecodable = "inputs/caf\udce9.jpg"  # b"caf\xe9.jpg", as os.fsdecode keeps it
    records = [done_record(0, path=newline), problem_record(1, path=undecodable)]
    page = render(records, tmp_path)

    page.encode("utf-8")  # no lone surrogate left to break the file
    assert read_page(page).errors == []
    assert "two\\nlines.png" in page
    assert "caf\\xe9.jpg" in page


def test_failures_are_grouped_by_reason_with_counts_that_add_up(tmp_path: Path) -> None:
    records = [done_record(0)] + [
        problem_record(i, reason=reason, status=status)
        for i, (reason, status) in enumerate(
            [("input.truncated", "skipped")] * 5
            + [("output.no_space", "failed")] * 3
            + [("worker.timeout", "failed")] * 2
            + [(None, "cancelled")] * 4,
            start=1,
        )
    ]
    page = render(records, tmp_path)

    groups = dict(re.findall(r"<code>([^<]+)</code>.*?>(\d+) items? ·", page))
    assert groups == {
        "input.truncated": "5",
        "(no reason)": "4",
        "output.no_space": "3",
        "worker.timeout": "2",
    }
    assert sum(map(int, groups.values())) == len(records) - 1
    assert "14 items in 4 reason classes" in page
    assert list(groups) == re.findall(r'<details class="reason"[^>]*><summary><code>([^<]+)', page)


def test_each_reason_lists_the_lowest_indices_up_to_its_limit_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    records = [problem_record(i) for i in reversed(range(30))]
    page = render(records, tmp_path, files_per_reason=7)

    listed = [int(i) for i in re.findall(r'<td class="index">(\d+)</td>', page)]
    assert listed == list(range(7))
    assert "and 23 more" in page


def test_the_summary_shows_name_status_reason_duration_counts_and_rate(tmp_path: Path) -> None:
    records = mixed_job()
    summary = summary_of(
        records, status="failed", reason="output.no_space", message="disk full\nat item 12"
    )
    page = render_report(summary, records, export_dir=tmp_path)

    assert "<h1>nightly-thumbnails</h1>" in page
    assert '<span class="badge failed">failed</span>' in page
    assert "<code>output.no_space</code> disk full\nat item 12" in page
    assert "10.0 s" in page
    assert "1.4 items/s" in page
    assert "2026-11-28 17:18:25 UTC" in page
    cards = re.findall(r'<div class="value">([\d,]+)</div><div class="what">(\w+)', page)
    assert cards == [
        ("14", "Total"), ("10", "Done"), ("0", "Cached"), ("2", "Failed"), ("1", "Skipped"),
        ("1", "Cancelled"),
    ]  # fmt: skip


def test_items_from_the_cache_have_their_card_and_count_among_the_measured(
    tmp_path: Path,
) -> None:
    records = [done_record(0), {**done_record(1), "status": "cached", "duration_ms": 0.0},
               {**done_record(2), "status": "cached", "duration_ms": 0.0}]
    page = render_report(summary_of(records), records, export_dir=tmp_path)

    cards = dict((what, value) for value, what in
                 re.findall(r'<div class="value">([\d,]+)</div><div class="what">(\w+)', page))
    assert (cards["Done"], cards["Cached"]) == ("1", "2")
    assert "over 3 done or cached items" in page
    assert "3 of 3 done items" in page  # the gallery shows the cached ones too


def test_outputs_inside_the_export_dir_are_embedded_and_linked_at_full_size(
    tmp_path: Path,
) -> None:
    output = tmp_path / "thumbs" / "a b#1.jpg"
    output.parent.mkdir()
    Image.new("RGB", (1600, 1200), (20, 90, 200)).save(output)
    page = read_page(render([done_record(0, outputs=[str(output)])], tmp_path))

    src = page.with_tag("img")[0]["src"] or ""
    assert src.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as shown:
        assert shown.size == (THUMBNAIL_BOX[0], 192)  # 1600x1200 in a 256 box
    assert image_links(page) == ["thumbs/a%20b%231.jpg"]


def test_outputs_outside_the_export_dir_are_embedded_as_small_data_uris(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGBA", (1200, 900), (200, 40, 40, 128)).save(elsewhere / "big.png")
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    page = read_page(render([done_record(0, outputs=[str(elsewhere / "big.png")])], export_dir))

    src = page.with_tag("img")[0]["src"] or ""
    assert src.startswith("data:image/jpeg;base64,")
    assert len(src) < 20_000
    assert image_links(page) == []


def test_a_busy_image_is_encoded_again_smaller_until_it_fits(tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", THUMBNAIL_BOX, np.random.default_rng(5).bytes(256 * 256 * 3))
    noise.save(tmp_path / "noise.png")
    first_try = io.BytesIO()
    noise.save(first_try, format="JPEG", quality=72)
    # NOTE: at the first size and quality it would not fit; else this tests nothing.
    assert len(base64.b64encode(first_try.getvalue())) > MAX_THUMBNAIL_BYTES

    thumbnail = thumbnail_for(str(tmp_path / "noise.png"), tmp_path, ThumbnailBudget())

    assert thumbnail.src is not None
    assert thumbnail.src.startswith("data:image/jpeg;base64,")
    assert len(thumbnail.src) <= MAX_THUMBNAIL_BYTES


def test_the_gallery_embeds_thumbnails_up_to_the_reports_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = []
    for index in range(12):
        Image.effect_noise((300, 300), 40 + index).convert("RGB").save(tmp_path / f"{index}.jpg")
        records.append(done_record(index, outputs=[str(tmp_path / f"{index}.jpg")]))
    one = len(thumbnail_for(str(tmp_path / "0.jpg"), tmp_path, ThumbnailBudget()).src or "")
    monkeypatch.setattr(_thumbnails, "THUMBNAILS_BUDGET_BYTES", 5 * one)

    page = read_page(render(records, tmp_path))

    sources = [img["src"] or "" for img in page.with_tag("img")]
    assert 3 <= len(sources) < 12
    assert sum(map(len, sources)) <= 5 * one
    assert "not embedded: the report's thumbnails are at their limit" in "".join(page.text)
    # Each one left out is still linked at full size.
    assert len(image_links(page)) == 12


def test_an_unreadable_output_gets_a_note_instead_of_an_image(tmp_path: Path) -> None:
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (tmp_path / "not-an-image.png").write_bytes(b"plain text")
    records = [
        done_record(0, outputs=[str(tmp_path / "gone.jpg")]),
        done_record(1, outputs=[str(tmp_path / "not-an-image.png")]),
        done_record(2, outputs=[]),
    ]
    page = read_page(render(records, export_dir))

    assert page.with_tag("img") == []
    notes = [attrs for _, attrs in page.with_class("missing")]
    assert len(notes) == 3
    assert "not shown: input." in "".join(page.text)


def test_the_page_fetches_nothing_and_runs_nothing(tmp_path: Path) -> None:
    page = render(mixed_job(), tmp_path)
    reader = read_page(page)

    assert reader.tags["script"] == reader.tags["link"] == reader.tags["iframe"] == 0
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_a_job_with_no_done_items_still_draws_its_charts_empty(tmp_path: Path) -> None:
    page = read_page(render([problem_record(0)], tmp_path))

    assert page.errors == []
    assert page.tags["svg"] == DISTRIBUTION_CHARTS
    assert "".join(page.text).count("no data") == DISTRIBUTION_CHARTS


def test_malformed_records_are_counted_and_their_bad_parts_left_out(tmp_path: Path) -> None:
    bad_counts: Any = {"r": [1, 2], "g": [], "b": "x"}
    broken_histogram = done_record(1, rgb=bad_counts)
    broken_histogram["analyses"]["sharpness"] = {"laplacian_variance": "NaN"}
    records = [
        {"status": "done"},
        broken_histogram,
        {"index": True, "status": "failed", "analyses": None, "outputs": "x"},
        done_record(3, rgb=histogram()),
    ]
    page = render_report({}, records, export_dir=tmp_path)
    reader = read_page(page)

    assert reader.errors == []
    assert len(reader.with_class("item")) == 3
    assert "No RGB histogram was recorded." in page
    assert "n = 1 · mean 150.0" in page  # only item 3 has a sharpness
    assert "1 item in 1 reason class" in page


def test_the_header_links_to_each_section(tmp_path: Path) -> None:
    page = read_page(render(mixed_job(), tmp_path))

    anchors = [a["href"] for a in page.with_tag("a") if (a["href"] or "").startswith("#")]
    assert anchors == ["#problems", "#ignored", "#distributions", "#gallery"]
    assert {attrs.get("id") for _, attrs in page.elements} >= {
        "problems",
        "distributions",
        "gallery",
    }
