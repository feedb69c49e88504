"""Inline SVG charts: an image's RGB histogram, and binned distributions across a job.

Every chart is an `<svg role="img">` labelled by its own `<title>` and `<desc>`
and drawn with axis labels; colours come from the page's CSS classes
(`r`, `g`, `b`, `bar`), so the charts follow its light or dark theme.
Every text passed in is escaped here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pixelmill.report._text import esc, format_count

__all__ = ["Frame", "Series", "bars_svg", "nice_ceiling", "rgb_histogram_svg"]

_RGB = (("r", "red"), ("g", "green"), ("b", "blue"))


@dataclass(frozen=True, slots=True)
class Frame:
    """A chart's canvas and the plot area inside its margins, in SVG user units."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def plot_width(self) -> float:
        """Width of the plot area, between the margins."""
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        """Height of the plot area, between the margins."""
        return self.height - self.top - self.bottom

    def x(self, fraction: float) -> float:
        """The x of a point `fraction` of the way across the plot area."""
        return self.left + fraction * self.plot_width

    def y(self, fraction: float) -> float:
        """The y of a point `fraction` of the way up the plot area."""
        return self.height - self.bottom - fraction * self.plot_height


@dataclass(frozen=True, slots=True)
class Series:
    """One set of bin counts of a distribution chart."""

    name: str
    """Shown in tooltips and the description: `red`, `images`."""
    counts: Sequence[int]
    css_class: str
    """`bar` for a single series drawn as bars, or `r`, `g`, `b` for step lines."""


_GALLERY = Frame(width=240, height=112, left=30, right=6, top=6, bottom=30)
_DISTRIBUTION = Frame(width=360, height=210, left=46, right=12, top=12, bottom=44)


def rgb_histogram_svg(
    histogram: Sequence[Sequence[int]] | None, *, chart_id: str, name: str
) -> str:
    """A small chart of an image's 256-level r, g and b counts: three filled polylines.

    Counts are drawn on a square-root scale so that a spike (clipped black or
    white) does not flatten the rest. Without a histogram, an empty chart says so.
    """
    frame = _GALLERY
    title = f"RGB histogram of {name}"
    if histogram is None:
        return _chart(frame, chart_id, title, "No RGB histogram was recorded.", _no_data(frame))
    peak = math.sqrt(max(1, *(max(channel) for channel in histogram)))
    parts = [_grid(frame, [0.5, 1.0])]
    peaks = []
    xs = _level_xs(frame)
    base, scale = frame.y(0), frame.plot_height / peak
    for (css, colour), counts in zip(_RGB, histogram, strict=True):
        # A point per two levels (the higher count, so no spike is lost): the
        # plot is narrower than 256 px, and the page has hundreds of charts.
        pairs = zip(counts[::2], counts[1::2], strict=True)
        ys = [base - math.sqrt(max(pair)) * scale for pair in pairs]
        parts.append(_area(frame, list(zip(xs, ys, strict=True)), css))
        peaks.append(f"{colour} at level {max(range(256), key=counts.__getitem__)}")
    parts.append(_axes(frame, [(0, "0"), (128 / 255, "128"), (1, "255")], "level", "count (√)"))
    desc = "Counts of the 256 levels per channel, square-root scale; peaks: " + ", ".join(peaks)
    return _chart(frame, chart_id, title, desc + ".", "".join(parts))


def bars_svg(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    bin_labels: Sequence[str],
    x_ticks: Sequence[tuple[float, str]],
    x_label: str,
    y_label: str,
) -> str:
    """A binned distribution: bars for one series, overlaid step lines for several.

    Args:
        series: Counts per bin, each `len(bin_labels)` long.
        chart_id: Unique in the page; the title and desc ids derive from it.
        title: The chart's accessible name.
        desc: A sentence on what it shows, for screen readers.
        bin_labels: Each bin's range as text, for the hover tooltips.
        x_ticks: (fraction across the plot, label) pairs for the x axis.
        x_label: The x axis label, with its unit.
        y_label: The y axis label.
    """
    frame = _DISTRIBUTION
    bins = len(bin_labels)
    top = max((max(s.counts, default=0) for s in series), default=0)
    if bins == 0 or top == 0:
        body = _no_data(frame) + _axes(frame, x_ticks, x_label, y_label)
        return _chart(frame, chart_id, title, desc, body)
    ceiling = nice_ceiling(top)
    ticks = [0.5, 1.0] if (ceiling / 2).is_integer() else [1.0]
    parts = [
        _grid(frame, ticks),
        _y_ticks(frame, [(t, format_count(round(ceiling * t))) for t in ticks]),
    ]
    width = frame.plot_width / bins
    if len(series) == 1:
        parts.extend(_bars(frame, series[0], ceiling, bin_labels))
    else:
        for one in series:
            points = []
            for i, count in enumerate(one.counts):
                y = frame.y(count / ceiling)
                points += [(frame.x(i / bins), y), (frame.x((i + 1) / bins), y)]
            parts.append(_area(frame, points, one.css_class))
        for i, label in enumerate(bin_labels):
            tip = ", ".join(f"{s.name} {format_count(s.counts[i])}" for s in series)
            parts.append(
                f'<rect class="hover" x="{frame.x(i / bins):.1f}" y="{frame.top}" '
                f'width="{width:.1f}" height="{frame.plot_height}">'
                f"<title>{esc(label)}: {esc(tip)}</title></rect>"
            )
    parts.append(_axes(frame, x_ticks, x_label, y_label))
    return _chart(frame, chart_id, title, desc, "".join(parts))


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 4, 6, 8 times a power of ten that is at least `value` (>= 1).

    Halves of these are whole numbers from 2 up, so a mid-height grid line
    gets an exact integer label.
    """
    value = max(value, 1.0)
    power = 10.0 ** math.floor(math.log10(value))
    return next(power * m for m in (1, 2, 4, 6, 8, 10) if power * m >= value)


def _chart(frame: Frame, chart_id: str, title: str, desc: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{esc(title)}</title><desc id="{chart_id}-d">{esc(desc)}</desc>'
        f"{body}</svg>"
    )


@functools.cache
def _level_xs(frame: Frame) -> tuple[float, ...]:
    """The x of each pair of levels, 0-1 to 254-255, across `frame` (shared by all charts)."""
    return tuple(frame.x((level + 0.5) / 255) for level in range(0, 256, 2))


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(map("{0[0]:.1f},{0[1]:.1f}".format, points))


def _area(frame: Frame, points: Sequence[tuple[float, float]], css: str) -> str:
    base = frame.y(0)
    outline = [(points[0][0], base), *points, (points[-1][0], base)]
    return (
        f'<polygon class="area {css}" points="{_points(outline)}"/>'
        f'<polyline class="line {css}" points="{_points(points)}"/>'
    )


def _bars(frame: Frame, series: Series, ceiling: float, labels: Sequence[str]) -> list[str]:
    bins = len(labels)
    width = frame.plot_width / bins
    bars = []
    for i, (count, label) in enumerate(zip(series.counts, labels, strict=True)):
        height = frame.plot_height * count / ceiling
        bars.append(
            f'<rect class="{series.css_class}" x="{frame.x(i / bins) + 0.5:.1f}" '
            f'y="{frame.y(0) - height:.1f}" width="{max(width - 1, 0.5):.1f}" '
            f'height="{height:.1f}"><title>{esc(label)}: {format_count(count)} '
            f"{esc(series.name)}</title></rect>"
        )
    return bars


def _grid(frame: Frame, fractions: Sequence[float]) -> str:
    return "".join(
        f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" '
        f'y1="{frame.y(f):.1f}" y2="{frame.y(f):.1f}"/>'
        for f in fractions
    )


def _y_ticks(frame: Frame, ticks: Sequence[tuple[float, str]]) -> str:
    return "".join(
        f'<text class="tick" x="{frame.left - 4}" y="{frame.y(f) + 3:.1f}" '
        f'text-anchor="end">{esc(label)}</text>'
        for f, label in [(0.0, "0"), *ticks]
    )


def _axes(frame: Frame, x_ticks: Sequence[tuple[float, str]], x_label: str, y_label: str) -> str:
    base = frame.y(0)
    ticks = "".join(
        f'<line class="axis" x1="{frame.x(f):.1f}" x2="{frame.x(f):.1f}" '
        f'y1="{base}" y2="{base + 3}"/>'
        f'<text class="tick" x="{frame.x(f):.1f}" y="{base + 13}" '
        f'text-anchor="{_anchor(f)}">{esc(label)}</text>'
        for f, label in x_ticks
    )
    middle = frame.top + frame.plot_height / 2
    return (
        f'<line class="axis" x1="{frame.left}" x2="{frame.width - frame.right}" '
        f'y1="{base}" y2="{base}"/>'
        f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{base}"/>'
        f"{ticks}"
        f'<text class="label" x="{frame.x(0.5):.1f}" y="{frame.height - 4}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
        f'<text class="label" x="10" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 10 {middle:.1f})">{esc(y_label)}</text>'
    )


def _anchor(fraction: float) -> str:
    return "start" if fraction <= 0.02 else "end" if fraction >= 0.98 else "middle"


def _no_data(frame: Frame) -> str:
    return (
        f'<text class="empty" x="{frame.x(0.5):.1f}" y="{frame.y(0.5):.1f}" '
        f'text-anchor="middle">no data</text>'
    )
