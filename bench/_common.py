"""Helpers shared by the benchmarks in bench/: memory sampling, CPU time, medians,
JSON output and a deterministic corpus of photo-like test images."""

from __future__ import annotations

import contextlib
import json
import statistics
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import psutil
from PIL import Image
from rich.console import Console
from rich.table import Table

MIB = 1024 * 1024


def tree_rss(proc: psutil.Process) -> int:
    """RSS in bytes summed over ``proc`` and all its descendants.

    Pages shared between processes (fork copy-on-write, shared libraries) are
    counted once per process, so for a process pool this is an upper bound.
    """
    total = 0
    for member in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


class BackgroundSampler:
    """Context manager: calls ``_sample`` on entry, every ``interval`` seconds on a
    daemon thread, and once more on exit. Subclasses define ``_sample``."""

    def __init__(self, interval: float, name: str) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _sample(self) -> None:
        raise NotImplementedError

    def _starting(self) -> None:
        """Runs on entry, before the first sample."""

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Self:
        self._starting()
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class PeakRSSSampler(BackgroundSampler):
    """Context manager: samples :func:`tree_rss` of this process every ``interval``
    seconds on a daemon thread and keeps the peak (in bytes) in ``peak``.

    It also keeps the CPU time last seen of every descendant, so ``cpu_s``
    counts workers that this process never reaps (pixelmill's are forked by
    a fork server). Peaks, and the CPU of a process's last interval, shorter
    than the interval can be missed.
    """

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(interval, "rss-sampler")
        self.peak = 0
        self._proc = psutil.Process()
        self._cpu_seen: dict[int, float] = {}
        self._own_cpu0 = 0.0
        self._cpu_base = 0.0

    def _sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self._proc))
        for child in self._proc.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = child.cpu_times()
                self._cpu_seen[child.pid] = times.user + times.system

    @property
    def cpu_s(self) -> float:
        """CPU seconds of this process and of every descendant seen while sampling."""
        own = self._proc.cpu_times()
        children = sum(self._cpu_seen.values()) - self._cpu_base
        return own.user + own.system - self._own_cpu0 + children

    def _starting(self) -> None:
        own = self._proc.cpu_times()
        self._own_cpu0 = own.user + own.system

    def __enter__(self) -> Self:
        super().__enter__()
        # Descendants alive before the run (a fork server) count from now.
        self._cpu_base = sum(self._cpu_seen.values())
        return self


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None; None if there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def histogram_stats(
    hist: np.ndarray,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...], tuple[int, ...]]:
    """Per-channel (mean, std, min, max) from a (channels, 256) histogram."""
    h = hist.astype(np.float64)
    levels = np.arange(256.0)
    n = h.sum(axis=1)
    mean = h @ levels / n
    std = np.sqrt(np.maximum(h @ levels**2 / n - mean**2, 0.0))
    nonzero = h > 0
    lo = nonzero.argmax(axis=1)
    hi = 255 - nonzero[:, ::-1].argmax(axis=1)
    return (
        tuple(mean.round(4).tolist()),
        tuple(std.round(4).tolist()),
        tuple(lo.tolist()),
        tuple(hi.tolist()),
    )


def list_images(directory: Path) -> list[Path]:
    """Files in ``directory`` whose extension Pillow recognises, sorted."""
    extensions = Image.registered_extensions()
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in extensions)


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


# --- rounds and the summary table ------------------------------------------

# A runner processes all inputs into an output dir; it returns job-only seconds or None.
Runner = Callable[[Sequence[Path], Path], float | None]


@dataclass(frozen=True)
class RoundResult:
    wall_s: float  # everything, incl. pool / runtime start and shutdown
    job_s: float | None  # if the runner reports it: the job alone
    cpu_s: float
    peak_rss: int
    written: int


@dataclass
class Variant:
    key: str
    label: str
    run: Runner | None  # None: skipped (or failed)
    note: str = ""
    rounds: list[RoundResult] = field(default_factory=list)


@dataclass
class Row:
    """One line of the table: medians over rounds of one figure."""

    key: str
    label: str
    note: str = ""
    rounds: int = 0
    images_per_s: float | None = None
    spread: float | None = None  # (max - min) / median of images/s over the rounds
    mpix_per_s: float | None = None
    cpu_ms_per_image: float | None = None
    peak_rss_mib: float | None = None
    vs_baseline: float | None = None


def summarise(variants: Sequence[Variant], n: int, mpix: float, baseline: str) -> list[Row]:
    """One row per variant (``n`` images, ``mpix`` input megapixels per round), plus a
    'job only' row where the variant reports job times; ``vs_baseline`` is images/s
    relative to the row keyed ``baseline``."""
    rows: list[Row] = []
    for v in variants:
        if not v.rounds:
            rows.append(Row(v.key, v.label, v.note or "no rounds"))
            continue
        figures = [(v.key, v.label, [r.wall_s for r in v.rounds])]
        job_times = [r.job_s for r in v.rounds if r.job_s is not None]
        if job_times:
            figures.append((f"{v.key}-job", f"{v.key}  job only", job_times))
        for key, label, times in figures:
            rates = [n / t for t in times]
            ips = statistics.median(rates)
            row = Row(key, label, v.note, len(times), ips, (max(rates) - min(rates)) / ips)
            row.mpix_per_s = median(mpix / t for t in times)
            if key == v.key:  # CPU and memory are measured for the whole run only
                row.cpu_ms_per_image = median(1000 * r.cpu_s / n for r in v.rounds)
                row.peak_rss_mib = median(r.peak_rss / MIB for r in v.rounds)
            rows.append(row)
    base = next((r.images_per_s for r in rows if r.key == baseline), None)
    for r in rows:
        if base and r.images_per_s is not None:
            r.vs_baseline = r.images_per_s / base
    return rows


def print_table(console: Console, rows: Sequence[Row], title: str, baseline: str) -> None:
    """The medians, one line per row; notes (why skipped, why failed) go below."""
    table = Table(title=title)
    columns = ("img/s", "spread", "MP/s", f"vs {baseline}", "CPU ms/img", "peak RSS MiB")
    table.add_column("variant", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    for r in rows:
        if r.images_per_s is None:
            table.add_row(r.label, "[yellow]skipped", *[""] * (len(columns) - 1))
            continue
        table.add_row(
            r.label,
            f"{r.images_per_s:.2f}",
            f"{r.spread:.0%}",
            f"{r.mpix_per_s:.1f}",
            f"{r.vs_baseline:.2f}" if r.vs_baseline is not None else "-",
            "" if r.cpu_ms_per_image is None else f"{r.cpu_ms_per_image:.0f}",
            "" if r.peak_rss_mib is None else f"{r.peak_rss_mib:.0f}",
        )
    console.print(table)
    for r in rows:
        if r.note and not r.key.endswith("-job"):
            console.print(f"[yellow]{r.key}: {r.note}")


# --- photo-like test images -------------------------------------------------

PHOTO_SIZE = (3000, 2000)
_ORIENTATION = 0x0112  # EXIF tag


def photo_like(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """An RGB image that compresses roughly like a photo: colour gradients, smooth
    noise at several scales (structure), and a little per-pixel grain (sensor noise)."""
    w, h = size
    top, bottom, side = rng.uniform(0, 255, (3, 3)).astype(np.float32)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :, None]
    img = top * (1 - y) + bottom * y + (side - 128) * 0.5 * x
    for cells, amplitude in ((3, 60.0), (12, 35.0), (48, 18.0), (200, 8.0)):
        low = rng.uniform(0, 255, (max(2, cells * h // w), cells, 3))
        low = 0.7 * low.mean(axis=2, keepdims=True) + 0.3 * low  # mostly luminance, like photos
        smooth = Image.fromarray(low.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
        img = img + (np.asarray(smooth, dtype=np.float32) - 127.5) * (amplitude / 127.5)
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * 2.5
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def generate_photos(dest: Path, count: int, seed: int = 20240601) -> list[Path]:
    """Write ``count`` deterministic photo-like images of about 3000x2000 into ``dest``.

    Every 4th is a PNG (the rest JPEG q90, like the shared corpus's 18:6 mix), every
    5th is portrait, and images 0, 6, 12, ... (all JPEGs) carry EXIF Orientation=6
    (rotate 90°) so that ``exif_transpose`` has work to do.
    """
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        w, h = PHOTO_SIZE if i % 5 != 4 else PHOTO_SIZE[::-1]
        image = photo_like(rng, (w, h))
        if i % 4 == 3:
            path = dest / f"synthetic-{i:03d}-{w}x{h}.png"
            image.save(path, "PNG")
        else:
            path = dest / f"synthetic-{i:03d}-{w}x{h}.jpg"
            exif = Image.Exif()
            exif[_ORIENTATION] = 6 if i % 6 == 0 else 1
            image.save(path, "JPEG", quality=90, exif=exif)
        paths.append(path)
    return paths
