"""The report's sections as HTML fragments: summary, problems, distributions, gallery."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pixelmill.report._digest import (
    STATUSES,
    Distribution,
    GalleryItem,
    JobDigest,
    ProblemItem,
    ReasonGroup,
    number,
)
from pixelmill.report._svg import Series, bars_svg, rgb_histogram_svg
from pixelmill.report._text import esc, format_count, format_duration, format_number
from pixelmill.report._thumbnails import ThumbnailBudget, thumbnail_for

__all__ = [
    "distributions_section",
    "gallery_section",
    "ignored_section",
    "problems_section",
    "summary_section",
]

_DASH = "\u2013"
_SEPARATOR = " \u00b7 "
_OPEN_GROUPS = 3
_MESSAGE_LIMIT = 2000
_LOG_TICKS = {-1: "0.1", 0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k", 6: "1M"}


def summary_section(summary: Mapping[str, Any], digest: JobDigest) -> str:
    """The header: name, status, reason and message, times, counts and rate."""
    name = summary.get("name") or summary.get("job_id") or "pixelmill job"
    status = str(summary.get("status") or "unknown")
    counts = _counts(summary, digest)
    total = counts["total"]
    duration = number(summary.get("duration_s"))
    rate = f"{total / duration:,.1f} items/s" if duration and total else _DASH
    done = digest.statuses["done"]
    facts = [
        ("Job", f'<span class="mono">{esc(summary.get("job_id") or _DASH)}</span>'),
        ("Started", esc(_when(summary.get("started_at")))),
        ("Finished", esc(_when(summary.get("finished_at")))),
        ("Duration", esc(format_duration(duration))),
        ("Rate", esc(rate)),
        ("Mean time per done item", f"{format_number(digest.done_ms / done if done else None)} ms"),
        ("Retried", format_count(digest.retried)),
    ]
    notice = ""
    if summary.get("reason") or summary.get("message"):
        reason = f"<code>{esc(summary.get('reason'))}</code> " if summary.get("reason") else ""
        notice = f'<p class="notice">{reason}{esc(summary.get("message"), keep_lines=True)}</p>'
    cards = [_card("total", "Total", total)] + [
        _card(s, s.capitalize(), counts.get(s, 0)) for s in STATUSES
    ]
    mismatch = ""
    if digest.records != total:
        mismatch = (
            f'<p class="note">results.jsonl holds {format_count(digest.records)} records; '
            f"the summary counts {format_count(total)} items.</p>"
        )
    return (
        '<header id="summary"><p class="eyebrow">pixelmill job report</p>'
        f'<div class="headline"><h1>{esc(name)}</h1>'
        f'<span class="badge {_css(status)}">{esc(status)}</span></div>'
        '<dl class="facts">'
        + "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in facts)
        + f"</dl>{notice}"
        f'<div class="cards">{"".join(cards)}</div>{_status_bar(counts)}{mismatch}'
        f"{_contents(digest)}</header>"
    )


def problems_section(digest: JobDigest) -> str:
    """Failed, skipped and cancelled items grouped by reason class, largest group first."""
    groups = sorted(digest.reasons.values(), key=lambda g: (-g.count, g.reason))
    problems = digest.problems
    if not groups:
        body = '<p class="note">No item failed, was skipped or was cancelled.</p>'
    else:
        body = "".join(
            _reason_group(group, problems, opened=n < _OPEN_GROUPS)
            for n, group in enumerate(groups)
        )
    heading = (
        f"{_plural(problems, 'item')} in {_plural(len(groups), 'reason class', 'reason classes')}"
    )
    return (
        f'<section id="problems"><h2>Problems <span class="count">{heading}</span></h2>'
        f"{body}</section>"
    )


def ignored_section(summary: Mapping[str, Any], files_per_reason: int) -> str:
    """Files the walk of the input directories left, grouped by reason, with the first listed.

    Read from the summary's `ignored` (counts by reason, the first entries of
    each); anything malformed there is shown as nothing ignored.
    """
    ignored = summary.get("ignored")
    ignored = ignored if isinstance(ignored, Mapping) else {}
    by_reason = ignored.get("by_reason")
    counts = {
        str(reason): count
        for reason, count in (by_reason.items() if isinstance(by_reason, Mapping) else ())
        if isinstance(count, int) and not isinstance(count, bool) and count > 0
    }
    files = ignored.get("files")
    entries = [e for e in (files if isinstance(files, list) else []) if isinstance(e, Mapping)]
    total = sum(counts.values())
    if not counts:
        body = '<p class="note">Every file under the input directories is an item.</p>'
    else:
        body = "".join(
            _ignored_group(reason, count, [e for e in entries if e.get("reason") == reason],
                           files_per_reason)
            for reason, count in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0]))
        )
    heading = (
        f"{_plural(total, 'file')} in {_plural(len(counts), 'reason', 'reasons')}"
    )
    return (
        f'<section id="ignored"><h2>Ignored <span class="count">{heading}</span></h2>'
        '<p class="note">Files under the input directories that are no item: not images, '
        "hidden, in a format this job does not read, or out of reach.</p>"
        f"{body}</section>"
    )


def _ignored_group(
    reason: str, count: int, entries: list[Mapping[str, Any]], limit: int
) -> str:
    shown = entries[: max(0, limit)]
    rows = "".join(
        f'<tr><td class="file mono">{esc(entry.get("path"))}'
        f'{"/" if entry.get("directory") is True else ""}</td>'
        f'<td class="message">{esc(_ignored_note(entry))}</td></tr>'
        for entry in shown
    )
    more = ""
    if count > len(shown):
        more = (
            f'<p class="more">\u2026 and {format_count(count - len(shown))} more, '
            "not listed here (the first found shown).</p>"
        )
    return (
        f'<details class="reason"><summary><code>{esc(reason)}</code>'
        f'<span class="share">{_plural(count, "file")}</span></summary>'
        '<div class="table-wrap"><table><thead><tr><th class="file">File</th>'
        f"<th>Note</th></tr></thead><tbody>{rows}</tbody></table></div>{more}</details>"
    )


def _ignored_note(entry: Mapping[str, Any]) -> str:
    notes = []
    if entry.get("format"):
        notes.append(f"{entry.get('format')} image")
    if entry.get("directory") is True:
        notes.append("a directory: none of its files looked at")
    return "; ".join(notes)


def distributions_section(digest: JobDigest) -> str:
    """Histograms across the job's done items: luminance, sharpness and colour means."""
    luminance = _linear_chart(
        [Series("images", digest.luminance.counts, "bar")],
        digest.luminance,
        chart_id="dist-luminance",
        title="Mean luminance across the job",
        x_label="mean luminance (0\u2013255)",
    )
    channels = digest.channel_means
    colours = _linear_chart(
        [
            Series(colour, channels[c].counts, c)
            for c, colour in (("r", "red"), ("g", "green"), ("b", "blue"))
        ],
        channels["r"],
        chart_id="dist-colour",
        title="Colour channel means across the job",
        x_label="channel mean (0\u2013255)",
    )
    figures = [
        _figure("Luminance", luminance, _caption(digest.luminance)),
        _figure("Sharpness", _sharpness_chart(digest.sharpness), _caption(digest.sharpness)),
        _figure("Colour means", colours, _colour_caption(channels)),
    ]
    return (
        '<section id="distributions"><h2>Distributions <span class="count">'
        f"over {format_count(digest.statuses['done'] + digest.statuses['cached'])} "
        "done or cached items</span></h2>"
        f'<div class="charts">{"".join(figures)}</div></section>'
    )


def gallery_section(
    digest: JobDigest, export_dir: Path, earlier: Mapping[str, str] | None = None
) -> str:
    """The first done items by index: output thumbnail, name, size and RGB histogram.

    A thumbnail in `earlier` (an earlier report's, by key) is taken again while
    its output is unchanged.
    """
    items = digest.gallery.sorted()
    done = digest.gallery.offered
    shown = f"{format_count(len(items))} of {format_count(done)} done items"
    note = ""
    if len(items) < done:
        note = (
            f'<p class="note">The {format_count(len(items))} lowest indices are shown; '
            "results.jsonl and results.csv list every item.</p>"
        )
    budget = ThumbnailBudget()
    cards = "".join(
        _gallery_item(item, n, export_dir, budget, earlier) for n, item in enumerate(items)
    )
    body = f'<div class="gallery">{cards}</div>' if items else '<p class="note">No done items.</p>'
    return (
        f'<section id="gallery"><h2>Gallery <span class="count">{shown}</span></h2>'
        f"{note}{body}</section>"
    )


def _counts(summary: Mapping[str, Any], digest: JobDigest) -> dict[str, int]:
    given = summary.get("counts")
    if isinstance(given, Mapping) and isinstance(given.get("total"), int):
        return {key: int(value) for key, value in given.items() if isinstance(value, int)}
    return {"total": digest.records, **digest.statuses}


def _when(value: object) -> str:
    text = str(value or _DASH)
    # summary.json's UTC timestamps, `2026-11-28T17:18:25Z`, read better spaced out.
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text):
        return text.replace("T", " ").removesuffix("Z") + " UTC"
    return text


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{format_count(count)} {one if count == 1 else many or one + 's'}"


def _css(status: str) -> str:
    return status if status.isidentifier() and status.isascii() else "unknown"


def _contents(digest: JobDigest) -> str:
    links = [
        ("problems", f"Problems ({format_count(digest.problems)})"),
        ("ignored", "Ignored"),
        ("distributions", "Distributions"),
        ("gallery", f"Gallery ({format_count(len(digest.gallery))})"),
    ]
    anchors = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in links)
    return f'<nav class="toc" aria-label="Sections">{anchors}</nav>'


def _card(css: str, label: str, value: int) -> str:
    return (
        f'<div class="card {css}"><div class="value">{format_count(value)}</div>'
        f'<div class="what">{label}</div></div>'
    )


def _status_bar(counts: Mapping[str, int]) -> str:
    total = sum(counts.get(s, 0) for s in STATUSES)
    if not total:
        return ""
    parts = [
        f'<span class="{s}" style="width:{100 * counts[s] / total:.3f}%" '
        f'title="{s}: {format_count(counts[s])}"></span>'
        for s in STATUSES
        if counts.get(s)
    ]
    label = ", ".join(f"{format_count(counts.get(s, 0))} {s}" for s in STATUSES)
    return (
        f'<div class="statusbar" role="img" aria-label="Items by status: {label}">'
        f"{''.join(parts)}</div>"
    )


def _reason_group(group: ReasonGroup, problems: int, *, opened: bool) -> str:
    statuses = " ".join(
        f'<span><span class="dot {_css(s)}"></span>{format_count(n)} {esc(s)}</span>'
        for s, n in sorted(group.statuses.items())
    )
    listed = group.items.sorted()
    rows = "".join(_problem_row(item) for item in listed)
    more = ""
    if group.count > len(listed):
        more = (
            f'<p class="more">\u2026 and {format_count(group.count - len(listed))} more, '
            "not listed here (lowest indices shown).</p>"
        )
    share = f"{_plural(group.count, 'item')} \u00b7 {100 * group.count / problems:.1f}%"
    return (
        f'<details class="reason"{" open" if opened else ""}><summary>'
        f"<code>{esc(group.reason)}</code>{statuses}"
        f'<span class="share">{share}</span></summary>'
        '<div class="table-wrap"><table><thead><tr><th class="index">#</th>'
        '<th class="file">File</th><th class="status">Status</th><th>Message</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>{more}</details>"
    )


def _problem_row(item: ProblemItem) -> str:
    message = item.message
    # Messages usually repeat the path first; the File column already shows it.
    if item.path and message.startswith(item.path + ": "):
        message = message[len(item.path) + 2 :]
    return (
        f'<tr><td class="index">{item.index}</td><td class="file mono">{esc(item.path)}</td>'
        f'<td class="status"><span class="dot {_css(item.status)}"></span>{esc(item.status)}</td>'
        f'<td class="message">{esc(message, keep_lines=True, limit=_MESSAGE_LIMIT)}</td></tr>'
    )


def _figure(title: str, chart: str, caption: str) -> str:
    return f"<figure>{chart}<figcaption><strong>{title}</strong>{caption}</figcaption></figure>"


def _caption(distribution: Distribution) -> str:
    if not distribution.n:
        return "No done item was measured."
    return (
        f"n = {format_count(distribution.n)} \u00b7 mean {format_number(distribution.mean)} "
        f"\u00b7 range {format_number(distribution.low)}\u2013{format_number(distribution.high)}"
    )


def _colour_caption(channels: Mapping[str, Distribution]) -> str:
    if not channels["r"].n:
        return "No done item was measured."
    means = " ".join(
        f'<span><span class="swatch {c}"></span>{format_number(channels[c].mean)}</span>'
        for c in ("r", "g", "b")
    )
    return f'mean of means <span class="legend">{means}</span>'


def _linear_chart(
    series: list[Series], bins: Distribution, *, chart_id: str, title: str, x_label: str
) -> str:
    edges = bins.edges
    labels = [f"{edges[i]:.0f}\u2013{edges[i + 1]:.0f}" for i in range(len(bins.counts))]
    span = edges[-1] - edges[0]
    ticks = [((v - edges[0]) / span, f"{v}") for v in (0, 64, 128, 192, 255)]
    names = " and ".join(s.name for s in series)
    desc = f"How many done items fall in each of {len(labels)} bins, for {names}."
    return bars_svg(
        series, chart_id=chart_id, title=title, desc=desc, bin_labels=labels,
        x_ticks=ticks, x_label=x_label, y_label="images",
    )  # fmt: skip


def _sharpness_chart(bins: Distribution) -> str:
    per_decade = round(1 / math.log10(bins.edges[1] / bins.edges[0]))
    first_decade = round(math.log10(bins.edges[0]))
    filled = [i for i, count in enumerate(bins.counts) if count]
    # Whole decades around the measured values: 0.1 to 1M would leave most bars empty.
    start = (filled[0] // per_decade) * per_decade if filled else 0
    stop = -(-(filled[-1] + 1) // per_decade) * per_decade if filled else len(bins.counts)
    edges = bins.edges[start : stop + 1]
    labels = [
        f"{format_number(edges[i])}\u2013{format_number(edges[i + 1])}" for i in range(stop - start)
    ]
    labels[0] = f"\u2264{format_number(edges[1])}" if start == 0 else labels[0]
    span = stop - start
    ticks = [
        ((k - start) / span, _LOG_TICKS.get(first_decade + k // per_decade, ""))
        for k in range(start, stop + 1, per_decade)
    ]
    return bars_svg(
        [Series("images", bins.counts[start:stop], "bar")],
        chart_id="dist-sharpness",
        title="Sharpness (Laplacian variance) across the job, log scale",
        desc=f"How many done items fall in each of {span} log-spaced bins of Laplacian variance.",
        bin_labels=labels,
        x_ticks=ticks,
        x_label="Laplacian variance (log scale)",
        y_label="images",
    )


def _gallery_item(
    item: GalleryItem,
    position: int,
    export_dir: Path,
    budget: ThumbnailBudget,
    earlier: Mapping[str, str] | None,
) -> str:
    name = item.path.rsplit("/", 1)[-1] or item.path
    if item.outputs:
        thumbnail = thumbnail_for(item.outputs[0], export_dir, budget, earlier)
        if thumbnail.src is None:
            picture = f'<div class="missing">{esc(thumbnail.note)}</div>'
        else:
            # The key first, then the data: URI: what `earlier_thumbnails` reads back.
            key = f'data-key="{thumbnail.key}" ' if thumbnail.key else ""
            picture = f'<img {key}src="{esc(thumbnail.src)}" alt="Output of {esc(name)}">'
        if thumbnail.href is not None:
            picture = f'<a href="{esc(thumbnail.href)}">{picture}</a>'
    else:
        picture = '<div class="missing">no output image</div>'
    meta = [f"#{item.index}"]
    if item.width and item.height:
        meta.append(f"{item.width}\u00d7{item.height}")
    if item.luminance is not None:
        meta.append(f"lum {format_number(item.luminance)}")
    if item.sharpness is not None:
        meta.append(f"sharp {format_number(item.sharpness)}")
    if len(item.outputs) > 1:
        meta.append(f"+{len(item.outputs) - 1} outputs")
    chart = rgb_histogram_svg(item.histogram, chart_id=f"hist-{position}", name=name)
    return (
        f'<figure class="item"><div class="thumb">{picture}</div>'
        f'<figcaption><span class="name mono" title="{esc(item.path)}">{esc(name)}</span>'
        f'<span class="meta">{_SEPARATOR.join(meta)}</span></figcaption>{chart}</figure>'
    )
