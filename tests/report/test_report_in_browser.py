"""The report as a real browser shows it: headless Chromium, from disk, with no network.

Skipped when no Chromium is installed, unless PIXELMILL_REQUIRE_BROWSER=1
(as `make report-check` sets it after installing one), when it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from pixelmill.report import write_report
from tests.report._page import read_page
from tests.report._records import HOSTILE_NAME, done_record, problem_record, summary_of

MAGENTA = (255, 0, 255)
CYAN = (0, 200, 255)
GALLERY_ITEMS = 4
# Any console line fails: the page has no script, so even a CSP refusal or a
# blocked image is a bug. Chromium logs console.error as INFO:CONSOLE too.
_CONSOLE = re.compile(r"CONSOLE|Uncaught")


def find_chromium() -> str:
    """The Chromium to run, or a skip (a failure under PIXELMILL_REQUIRE_BROWSER=1)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        reason = "headless Chromium is not installed (`make report-check` installs it)"
        if os.environ.get("PIXELMILL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run_chromium(page: Path, *options: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Chromium headless on `page` with a fresh profile and nothing reaching the network."""
    command = [
        find_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *options,
        page.as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=120, check=False
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if _CONSOLE.search(line)]


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A written report whose outputs are solid colours: magenta inside, cyan embedded."""
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inside = [export_dir / f"photo_{i}.png" for i in range(GALLERY_ITEMS - 2)]
    inside.append(export_dir / HOSTILE_NAME)
    for path in inside:
        Image.new("RGB", (320, 240), MAGENTA).save(path, format="PNG")
    outside = elsewhere / "embedded.png"
    Image.new("RGB", (320, 240), CYAN).save(outside)
    records = [
        *(
            done_record(i, path=f"inputs/{p.name}", outputs=[str(p)], luminance=60.0 + 30 * i)
            for i, p in enumerate([*inside, outside])
        ),
        problem_record(10, path=f"inputs/{HOSTILE_NAME}"),
        problem_record(11, reason="worker.timeout", message="took\nfar too long"),
    ]
    lines = "".join(json.dumps(record) + "\n" for record in records)
    (export_dir / "results.jsonl").write_text(lines, encoding="utf-8")
    return write_report(export_dir, summary_of(records))


def test_the_rendered_dom_holds_every_chart_and_the_console_stays_silent(
    report: Path, tmp_path: Path
) -> None:
    result = run_chromium(report, "--dump-dom", profile=tmp_path / "profile")

    assert result.returncode == 0, result.stderr[-2000:]
    dom = read_page(result.stdout)
    assert dom.tags["svg"] == GALLERY_ITEMS + 3
    assert dom.tags["polyline"] >= 3 * GALLERY_ITEMS
    assert dom.tags["script"] == 0
    assert all("onerror" not in attrs for attrs in dom.with_tag("img"))
    assert HOSTILE_NAME in "".join(dom.text)
    assert console_lines(result.stderr) == []


def test_the_screenshot_shows_the_page_with_both_kinds_of_thumbnail(
    report: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    result = run_chromium(
        report,
        f"--screenshot={shot}",
        "--window-size=1280,2200",
        "--hide-scrollbars",
        profile=tmp_path / "profile",
    )

    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2200)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, charts and images, not a blank page
    # Linked thumbnails (relative paths) and the embedded one (data: URI) both
    # passed the page's Content-Security-Policy and were drawn.
    assert covered(colours, MAGENTA) > 10_000
    assert covered(colours, CYAN) > 5_000
    assert console_lines(result.stderr) == []


def test_the_console_scan_catches_a_script_error(tmp_path: Path) -> None:
    # NOTE: without this, a scan that never matches would pass the tests above.
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>throw new Error('boom')</script>")

    result = run_chromium(page, "--dump-dom", profile=tmp_path / "profile")

    assert any("boom" in line for line in console_lines(result.stderr))


def covered(colours: Sequence[tuple[int, object]], target: tuple[int, int, int]) -> int:
    """How many pixels are within a JPEG's error of `target`."""
    return sum(
        count
        for count, colour in colours
        if isinstance(colour, tuple)
        and max(abs(a - b) for a, b in zip(colour, target, strict=True)) <= 24
    )
