"""Throughput of one batch image pipeline: plain Pillow, a process pool, pixelmill, pyvips.

The pipeline, per input image: open -> EXIF transpose -> convert RGB -> thumbnail to
fit 1024x1024 (LANCZOS, default ``reducing_gap``) -> 256-bin histogram per channel
and per-channel mean/std/min/max (derived from ``Image.histogram()``) -> save JPEG
quality 85 -> one CSV row. It is run by:

  a   a plain sequential Pillow loop in this process;
  b   ``ProcessPoolExecutor(os.cpu_count())``, sending paths and returning small
      records (the baseline to beat);
  c1  pixelmill ``Runtime(workers=1)`` and
  cN  pixelmill ``Runtime(workers=os.cpu_count())``, each timed including Runtime
      start and shutdown, and separately for the job alone (submit -> wait);
  c1w, cNw  steady state: after the rounds above, one Runtime of each size is
      started and warmed up with an untimed pass over the corpus (as an embedding
      host's long-lived Runtime is), then the job runs on each, interleaved, for as
      many rounds (job only; their CPU and RSS are not measured);
  d   pyvips ``thumbnail`` (shrink-on-load) in ``ProcessPoolExecutor(os.cpu_count())``;
  e   pixelmill ``Runtime(backend="ray")``: the same, its workers as Ray actors on a
      local Ray started on loopback (the total includes ``ray.init``; "job only" not).

c* are skipped with a note when ``pixelmill`` lacks its façade, d when ``pyvips``
does not import. Every variant writes to its own fresh temporary output dir; the
inputs are read once beforehand so that all variants see a warm page cache. Rounds
are interleaved (a b c1 cN d, a b c1 cN d, ...) and the table shows medians over
rounds of: images/s, input megapixels/s, CPU ms per image (this process plus its
reaped children), peak RSS summed over the process tree (sampled every 20 ms;
shared pages count once per process), and images/s relative to b.

Run:
    .venv/bin/python bench/throughput.py --corpus /work/shared/corpus/photos --rounds 3
    .venv/bin/python bench/throughput.py --generate 24      # synthetic ~3000x2000 photos
Results also go to JSON (``--json``, default bench/results/throughput.json).
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import PIL
from _common import (
    PeakRSSSampler,
    RoundResult,
    Row,
    Runner,
    Variant,
    generate_photos,
    histogram_stats,
    list_images,
    print_table,
    summarise,
    write_json,
)
from PIL import Image, ImageOps
from rich.console import Console

CPUS = os.cpu_count() or 1
THUMB = 1024
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "throughput.json"
console = Console()


@dataclass(frozen=True)
class Record:
    """What a worker sends back per image: small, no pixels."""

    name: str
    width: int
    height: int
    out_bytes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    min: tuple[int, ...]
    max: tuple[int, ...]
    histogram: tuple[int, ...]


def make_record(name: str, size: tuple[int, int], dest: Path, hist: np.ndarray) -> Record:
    stats = histogram_stats(hist)
    return Record(name, size[0], size[1], dest.stat().st_size, *stats, tuple(hist.ravel().tolist()))


def pillow_one(path: Path, out_dir: Path) -> Record:
    with Image.open(path) as src:
        image = (ImageOps.exif_transpose(src) or src).convert("RGB")
    image.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    hist = np.asarray(image.histogram(), dtype=np.int64).reshape(3, 256)
    dest = out_dir / f"{path.stem}.jpg"
    image.save(dest, "JPEG", quality=85)
    return make_record(path.name, image.size, dest, hist)


def vips_one(path: Path, out_dir: Path) -> Record:
    import pyvips  # type: ignore[import-untyped, import-not-found, unused-ignore]

    # shrink-on-load and EXIF auto-rotation happen inside thumbnail()
    # copy_memory: the loader streams sequentially; histogram and save are two passes
    image = pyvips.Image.thumbnail(str(path), THUMB, height=THUMB).copy_memory()
    if image.hasalpha():
        image = image.extract_band(0, n=image.bands - 1)
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    hist = np.asarray(image.hist_find().numpy(), dtype=np.int64).reshape(256, 3).T
    dest = out_dir / f"{path.stem}.jpg"
    image.jpegsave(str(dest), Q=85)
    return make_record(path.name, (image.width, image.height), dest, hist)


def write_csv(out_dir: Path, records: Iterable[Record]) -> None:
    with (out_dir / "results.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "width", "height", "out_bytes", "mean", "std", "min", "max"])
        for r in records:
            writer.writerow([r.name, r.width, r.height, r.out_bytes, r.mean, r.std, r.min, r.max])


def run_sequential(paths: Sequence[Path], out_dir: Path) -> None:
    write_csv(out_dir, (pillow_one(p, out_dir) for p in paths))


def pool_runner(worker: Callable[[Path, Path], Record]) -> Runner:
    def run(paths: Sequence[Path], out_dir: Path) -> None:
        with ProcessPoolExecutor(max_workers=CPUS) as pool:
            write_csv(out_dir, pool.map(worker, paths, repeat(out_dir)))

    return run


def pixelmill_spec(pm: ModuleType, paths: Sequence[Path], out_dir: Path) -> Any:
    return pm.JobSpec(
        inputs=list(paths),
        pipeline=[pm.ops.thumbnail(THUMB), pm.ops.save(format="jpeg", quality=85)],
        analyses=["rgb_histogram", "channel_stats"],
        export_dir=out_dir,
        # Every round does the work: the result cache would answer all but the
        # first from the job store (bench/cache.py measures the cache).
        cache=False,
    )


def pixelmill_job(pm: ModuleType, runtime: Any, paths: Sequence[Path], out_dir: Path) -> float:
    """Seconds one job over `paths` takes on a started runtime."""
    start = time.perf_counter()
    result = runtime.submit(pixelmill_spec(pm, paths, out_dir)).wait(timeout=600)
    job_s = time.perf_counter() - start
    if result.counts.done != len(paths):
        raise RuntimeError(f"pixelmill finished {result.counts.as_dict()} of {len(paths)}")
    return job_s


def pixelmill_runner(pm: ModuleType, workers: int, backend: str = "local") -> Runner:
    def run(paths: Sequence[Path], out_dir: Path) -> float:
        with pm.Runtime(workers=workers, backend=backend) as runtime:
            return pixelmill_job(pm, runtime, paths, out_dir)

    return run


def steady_state(pm: ModuleType, paths: Sequence[Path], rounds: int) -> dict[str, list[float]]:
    """Seconds per job on long-lived runtimes of 1 and all workers, warmed up, interleaved."""
    sizes = sorted({1, CPUS})
    runtimes = {f"c{w}w": pm.Runtime(workers=w) for w in sizes}
    times: dict[str, list[float]] = {key: [] for key in runtimes}
    try:
        with tempfile.TemporaryDirectory(prefix="pm-bench-warm-") as tmp:
            for key, runtime in runtimes.items():
                pixelmill_job(pm, runtime, paths, Path(tmp) / f"warm-up-{key}")
            for i in range(rounds):
                console.print(f"steady state {i + 1}/{rounds}", style="dim")
                for key, runtime in runtimes.items():
                    times[key].append(pixelmill_job(pm, runtime, paths, Path(tmp) / f"{key}-{i}"))
    finally:
        for runtime in runtimes.values():
            runtime.shutdown()
    return times


def load_pixelmill() -> tuple[ModuleType | None, str]:
    try:
        pm = importlib.import_module("pixelmill")
    except Exception as exc:
        return None, f"`import pixelmill` failed ({type(exc).__name__}: {exc})"
    missing = [name for name in ("Runtime", "JobSpec", "ops") if not hasattr(pm, name)]
    if missing:
        return None, f"pixelmill has no {', '.join(missing)} yet (façade not written)"
    return pm, ""


def pyvips_note() -> str:
    try:
        importlib.import_module("pyvips")
    except Exception as exc:
        return f"`import pyvips` failed ({type(exc).__name__}: {exc})"
    return ""


def build_variants() -> list[Variant]:
    pm, pm_note = load_pixelmill()
    vips_note = pyvips_note()
    variants = [
        Variant("a", "a  sequential Pillow", run_sequential),
        Variant("b", f"b  Pillow pool({CPUS})", pool_runner(pillow_one)),
    ]
    for workers in sorted({1, CPUS}):
        runner = pixelmill_runner(pm, workers) if pm else None
        variants.append(
            Variant(f"c{workers}", f"c{workers} pixelmill w={workers}", runner, pm_note)
        )
    runner = None if vips_note else pool_runner(vips_one)
    variants.append(Variant("d", f"d  pyvips pool({CPUS})", runner, vips_note))
    ray_note = "" if importlib.util.find_spec("ray") else "Ray is not installed"
    runner = pixelmill_runner(pm, CPUS, backend="ray") if pm and not ray_note else None
    variants.append(Variant("e", f"e  pixelmill ray w={CPUS}", runner, ray_note or pm_note))
    return variants


def run_round(variant: Variant, paths: Sequence[Path]) -> None:
    assert variant.run is not None
    gc.collect()
    with tempfile.TemporaryDirectory(prefix=f"pm-bench-{variant.key}-") as tmp:
        out_dir = Path(tmp)
        with PeakRSSSampler() as rss:
            start = time.perf_counter()
            job_s = variant.run(paths, out_dir)
            wall_s = time.perf_counter() - start
        written = sum(1 for p in out_dir.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg"})
    if written != len(paths):
        console.print(f"[yellow]{variant.key}: wrote {written} JPEGs for {len(paths)} inputs")
    variant.rounds.append(RoundResult(wall_s, job_s, rss.cpu_s, rss.peak, written))


def steady_state_rows(
    times: dict[str, list[float]], n: int, mpix: float, rows: Sequence[Row]
) -> list[Row]:
    """Table rows for `steady_state`'s times, relative to the baseline row b."""
    base = next((r.images_per_s for r in rows if r.key == "b"), None)
    out = []
    for key, seconds in times.items():
        rates = [n / t for t in seconds]
        ips = statistics.median(rates)
        label = f"{key} pixelmill w={key[1:-1]}, warm job"
        row = Row(key, label, "", len(rates), ips, (max(rates) - min(rates)) / ips)
        row.mpix_per_s = statistics.median(mpix / t for t in seconds)
        row.vs_baseline = ips / base if base else None
        out.append(row)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, help="directory of input images")
    source.add_argument(
        "--generate",
        type=int,
        default=24,
        metavar="N",
        help="without --corpus: generate N photo-like images (default 24)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help="comma-separated variants to run, e.g. b,c1,c2 (default: all)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pm-bench-corpus-") as generated:
        if args.corpus is None:
            console.print(f"generating {args.generate} photo-like images in {generated} …")
            paths = generate_photos(Path(generated), args.generate)
        else:
            paths = list_images(args.corpus)
        if not paths:
            console.print(f"[red]no images in {args.corpus}")
            return 1
        sizes = []
        for p in paths:
            p.read_bytes()  # warm the page cache for every variant alike
            with Image.open(p) as im:
                sizes.append(im.size)
        mpix = sum(w * h for w, h in sizes) / 1e6
        variants = build_variants()
        if args.only:
            keep = set(args.only.split(","))
            unknown = keep - {v.key for v in variants} - {f"c{w}w" for w in {1, CPUS}}
            if unknown:
                console.print(f"[red]--only: no variant {', '.join(sorted(unknown))}")
                return 2
            variants = [v for v in variants if v.key in keep]
        for v in variants:
            if v.run is None:
                console.print(f"[yellow]skipping {v.label.split()[0]}: {v.note}")
        for i in range(args.rounds):
            for v in variants:
                if v.run is None:
                    continue
                console.print(f"round {i + 1}/{args.rounds}: {v.label}", style="dim")
                try:
                    run_round(v, paths)
                except Exception as exc:  # a broken variant must not sink the others
                    v.note = f"failed: {type(exc).__name__}: {exc}"
                    v.run = None
                    console.print(f"[red]{v.key} {v.note}")
        pm, _ = load_pixelmill()
        wanted = args.only is None or any(key.endswith("w") for key in args.only.split(","))
        warm = steady_state(pm, paths, args.rounds) if pm is not None and wanted else {}
    rows = summarise(variants, len(paths), mpix, baseline="b")
    rows += steady_state_rows(warm, len(paths), mpix, rows)
    source = args.corpus or f"{len(paths)} generated images"
    title = f"{source}: {len(paths)} images, {mpix:.1f} MP, {CPUS} CPUs, {args.rounds} rounds"
    print_table(console, rows, title, baseline="b")
    meta = {
        "corpus": str(source),
        "images": len(paths),
        "megapixels": mpix,
        "rounds": args.rounds,
        "cpu_count": CPUS,
        "python": sys.version.split()[0],
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(
        args.json,
        {
            "meta": meta,
            "summary": [asdict(r) for r in rows],
            "rounds": {v.key: [asdict(r) for r in v.rounds] for v in variants},
            "steady_state_s": warm,
        },
    )
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
