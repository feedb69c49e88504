"""write_report and read_records: the report beside the export files."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from pixelmill.report import REPORT_HTML, _thumbnails, read_records, write_report
from pixelmill.report._thumbnails import earlier_thumbnails
from pixelmill.testing import write_image
from tests.report._page import read_page
from tests.report._records import done_record, problem_record, summary_of

if TYPE_CHECKING:
    from pathlib import Path


def export(tmp_path: Path) -> Path:
    write_image(tmp_path / "photo_0000.jpg")
    records = [done_record(0, outputs=[str(tmp_path / "photo_0000.jpg")]), problem_record(1)]
    with (tmp_path / "results.jsonl").open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record) + "\n\n")
    summary = summary_of(records) | {"items": [{"index": 0}, {"index": 1}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return tmp_path


def test_the_report_is_written_beside_the_export_files_and_nothing_else(tmp_path: Path) -> None:
    before = set(export(tmp_path).iterdir())

    written = write_report(tmp_path)

    assert written == tmp_path / REPORT_HTML
    assert set(tmp_path.iterdir()) == before | {written}
    page = read_page(written.read_text(encoding="utf-8"))
    assert page.errors == []
    assert (page.with_tag("img")[0]["src"] or "").startswith("data:image/jpeg;base64,")
    assert page.with_tag("a")[-1]["href"] == "photo_0000.jpg"


def test_a_summary_given_is_used_instead_of_summary_json(tmp_path: Path) -> None:
    export(tmp_path)

    write_report(tmp_path, {"name": "from the exporter", "counts": {"total": 2}})

    assert "<h1>from the exporter</h1>" in (tmp_path / REPORT_HTML).read_text(encoding="utf-8")


def test_records_are_read_line_by_line_skipping_blank_lines(tmp_path: Path) -> None:
    export(tmp_path)

    records = read_records(tmp_path / "results.jsonl")

    assert next(records)["index"] == 0
    assert [r["index"] for r in records] == [1]


def test_a_path_with_undecodable_bytes_survives_the_json_round_trip(tmp_path: Path) -> None:
    export(tmp_path)
    record = problem_record(2, path="inputs/caf\udce9.jpg")
    with (tmp_path / "results.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")

    page = write_report(tmp_path).read_text(encoding="utf-8")

    assert "inputs/caf\\xe9.jpg" in page


def _decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The outputs the report decodes from now on, in order."""
    decoded: list[Path] = []
    real = _thumbnails._embedded

    def counting(path: Path) -> str:
        decoded.append(path)
        return real(path)

    monkeypatch.setattr(_thumbnails, "_embedded", counting)
    return decoded


def test_a_report_written_again_takes_the_thumbnails_of_unchanged_outputs_from_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(tmp_path)
    first = write_report(tmp_path).read_text(encoding="utf-8")
    decoded = _decodes(monkeypatch)

    again = write_report(tmp_path).read_text(encoding="utf-8")

    assert decoded == []
    assert again == first
    assert 'data-key="' in again


def test_an_output_changed_since_the_last_report_is_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(tmp_path)
    first = read_page(write_report(tmp_path).read_text(encoding="utf-8"))
    output = tmp_path / "photo_0000.jpg"
    write_image(output, size=(40, 30), color=(10, 200, 90))  # other pixels, size and mtime
    decoded = _decodes(monkeypatch)

    again = read_page(write_report(tmp_path).read_text(encoding="utf-8"))

    assert decoded == [output.resolve()]
    assert again.with_tag("img")[0]["src"] != first.with_tag("img")[0]["src"]


def test_only_base64_jpegs_under_a_key_are_taken_from_an_earlier_report(tmp_path: Path) -> None:
    report = tmp_path / REPORT_HTML
    key = "0" * 32
    report.write_text(
        f'<img data-key="{key}" src="data:image/jpeg;base64,QUJD">'
        f'<img data-key="{"1" * 32}" src="data:image/jpeg;base64,QUJD"><script>">'
        f'<img data-key="{"2" * 32}" src="javascript:alert(1)">',
        encoding="utf-8",
    )

    earlier = earlier_thumbnails(report)

    assert earlier == {key: "data:image/jpeg;base64,QUJD", "1" * 32: "data:image/jpeg;base64,QUJD"}


def test_a_fifo_where_the_earlier_report_was_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / REPORT_HTML)

    assert earlier_thumbnails(tmp_path / REPORT_HTML) == {}  # returns: no writer needed
