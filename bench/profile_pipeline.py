"""Where `pixelmill.imaging.pipeline.run` spends its time, stage by stage, per input format.

Runs the throughput benchmark's pipeline (thumbnail 1024 + save JPEG q85, analyses
rgb_histogram + channel_stats) on every image of a corpus, in this process, one
image at a time, and reads the stage times that the imaging code records while
`pixelmill.imaging._stages.recording()` is active:

  open        Image.open, header and pixel-limit check, EXIF parse
  integrity   the checks Pillow skips (PNG IDAT CRCs, JPEG size floor / scan count)
  decode      draft + load (libjpeg DCT scaling for JPEG; full inflate for PNG)
  orient/conv whole-factor reduce (retries only), EXIF transpose, working mode
  resize      the thumbnail op
  analyses    all analyses
  save        the save op (flatten + JPEG encode + atomic rename)
  other       the rest of run(): validation, context, result
  total       run() wall time

Times are wall time, or with ``--cpu`` this thread's CPU time (steadier when
other work shares the machine; it leaves out waiting for a CPU). Each cell is
the median over images of the format of each image's median over rounds; the
"sum" rows add the per-image medians, which is what throughput pays.
With ``--reference`` (default on), the plain Pillow pipeline of ``bench/throughput.py``
variant b (open -> exif_transpose -> convert RGB -> thumbnail LANCZOS -> histogram
-> save q85) is timed on the same images for comparison.

Run:
    .venv/bin/python bench/profile_pipeline.py --corpus /work/shared/corpus/photos
    .venv/bin/python bench/profile_pipeline.py --corpus DIR --rounds 5 --per-image
    .venv/bin/python bench/profile_pipeline.py --corpus DIR --cprofile 25
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pixelmill.imaging import ops
from pixelmill.imaging._stages import recording
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run

THUMB = 1024
PIPELINE = Pipeline.validated(
    steps=[ops.thumbnail(THUMB), ops.save(format="jpeg", quality=85)],
    analyses=["rgb_histogram", "channel_stats"],
)
COLUMNS = (
    "open",
    "integrity",
    "decode",
    "orient/conv",
    "resize",
    "analyses",
    "save",
    "other",
    "total",
)
# Stage names recorded by pixelmill.imaging -> the column they count in.
_COLUMN_OF = {
    "open": "open",
    "exif": "open",
    "integrity": "integrity",
    "decode": "decode",
    "orient/convert": "orient/conv",
    "op:thumbnail": "resize",
    "op:resize": "resize",
    "op:save": "save",
}

Times = dict[str, float]  # column -> milliseconds


def list_images(directory: Path) -> list[Path]:
    extensions = Image.registered_extensions()
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in extensions)


Clock = Callable[[], float]


def pixelmill_one(path: Path, out_dir: Path, clock: Clock) -> Times:
    target = OutputTarget(output_dir=out_dir, stem=path.stem)
    with recording(clock) as stages:
        start = clock()
        run(path, PIPELINE, target)
        total = clock() - start
    row: Times = dict.fromkeys(COLUMNS, 0.0)
    for name, seconds in stages.items():
        column = "analyses" if name.startswith("analysis:") else _COLUMN_OF.get(name)
        if column is not None:
            row[column] += seconds * 1000
    row["total"] = total * 1000
    row["other"] = row["total"] - sum(row[c] for c in COLUMNS if c not in ("other", "total"))
    return row


def reference_one(path: Path, out_dir: Path, clock: Clock) -> Times:
    """bench/throughput.py's `pillow_one`, with the decode made explicit to time it."""
    row: Times = dict.fromkeys(COLUMNS, 0.0)
    t0 = clock()
    with Image.open(path) as src:
        t1 = clock()
        src.load()
        t2 = clock()
        image = (ImageOps.exif_transpose(src) or src).convert("RGB")
    t3 = clock()
    image.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    t4 = clock()
    hist = np.asarray(image.histogram(), dtype=np.int64).reshape(3, 256)
    levels = np.arange(256.0)
    mean = hist @ levels / hist.sum(axis=1)
    _ = np.sqrt(np.maximum(hist @ levels**2 / hist.sum(axis=1) - mean**2, 0.0))
    t5 = clock()
    image.save(out_dir / f"{path.stem}.jpg", "JPEG", quality=85)
    t6 = clock()
    row.update(
        {
            "open": (t1 - t0) * 1000,
            "decode": (t2 - t1) * 1000,
            "orient/conv": (t3 - t2) * 1000,
            "resize": (t4 - t3) * 1000,
            "analyses": (t5 - t4) * 1000,
            "save": (t6 - t5) * 1000,
            "total": (t6 - t0) * 1000,
        }
    )
    return row


def image_format(path: Path) -> str:
    with Image.open(path) as image:
        return str(image.format)


def per_image_medians(samples: dict[Path, list[Times]]) -> dict[Path, Times]:
    return {
        path: {c: statistics.median(r[c] for r in rows) for c in COLUMNS}
        for path, rows in samples.items()
    }


def _cells(values: Iterable[float], width: int) -> str:
    return "".join(f"{value:>{width}.1f}" for value in values)


def print_table(title: str, medians: dict[Path, Times], formats: dict[Path, str]) -> None:
    by_format: dict[str, list[Times]] = defaultdict(list)
    for path, row in medians.items():
        by_format[formats[path]].append(row)
    width = max(11, *(len(c) for c in COLUMNS))
    print(f"\n{title}  (ms; median over images of per-image medians; sum: medians added)")
    print(f"{'':16}" + "".join(f"{c:>{width}}" for c in COLUMNS))
    for fmt in sorted(by_format):
        rows = by_format[fmt]
        medians_of_format = (statistics.median(r[c] for r in rows) for c in COLUMNS)
        print(f"{f'{fmt} (n={len(rows)})':16}" + _cells(medians_of_format, width))
        print(f"{'  sum':16}" + _cells((sum(r[c] for r in rows) for c in COLUMNS), width))
    every = list(medians.values())
    print(f"{'ALL sum':16}" + _cells((sum(r[c] for r in every) for c in COLUMNS), width))


def print_per_image(title: str, medians: dict[Path, Times]) -> None:
    width = max(11, *(len(c) for c in COLUMNS))
    print(f"\n{title}: per image (ms, median over rounds)")
    print(f"{'':30}" + "".join(f"{c:>{width}}" for c in COLUMNS))
    for path, row in medians.items():
        print(f"{path.name[:30]:30}" + _cells((row[c] for c in COLUMNS), width))


def tune(enabled: bool) -> str:
    if not enabled:
        return "not tuned"
    try:
        tuning = importlib.import_module("pixelmill.imaging.tuning")
    except ImportError:
        return "not tuned (pixelmill.imaging.tuning absent)"
    applied = tuning.tune_process()
    return f"tuned as a worker: pixelmill.imaging.tuning.tune_process() -> {applied}"


def profile_functions(paths: Sequence[Path], out_dir: Path, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for path in paths:
        pixelmill_one(path, out_dir, time.perf_counter)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of one pass of pixelmill over the corpus, top {top} by own time:")
    print(text.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="directory of input images")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the corpus (default 3)")
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the plain Pillow pipeline (default on)",
    )
    parser.add_argument(
        "--tune",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="call pixelmill.imaging.tuning.tune_process() first, as workers do (default on;"
        " it tunes the process, so the plain reference runs tuned too)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time with this thread's CPU clock instead of wall time (steadier on a busy box)",
    )
    parser.add_argument("--per-image", action="store_true", help="also print every image")
    parser.add_argument("--cprofile", type=int, metavar="N", default=0, help="top-N cProfile")
    args = parser.parse_args(argv)
    clock: Clock = time.thread_time if args.cpu else time.perf_counter

    paths = list_images(args.corpus)
    if not paths:
        print(f"no images in {args.corpus}", file=sys.stderr)
        return 1
    for path in paths:
        path.read_bytes()  # warm the page cache
    formats = {path: image_format(path) for path in paths}
    timed = "thread CPU time" if args.cpu else "wall time"
    print(f"{len(paths)} images from {args.corpus}, {args.rounds} rounds, {timed}")
    print(tune(args.tune))
    variants: list[tuple[str, Callable[[Path, Path, Clock], Times]]] = [
        ("pixelmill", pixelmill_one)
    ]
    if args.reference:
        variants.append(("plain Pillow (bench b)", reference_one))
    samples: dict[str, dict[Path, list[Times]]] = {name: defaultdict(list) for name, _ in variants}
    with tempfile.TemporaryDirectory(prefix="pm-profile-") as tmp:
        out_dir = Path(tmp)
        for _, one in variants:  # one warm-up pass: imports, first-touch allocations
            one(paths[0], out_dir, clock)
        for _ in range(args.rounds):
            for path in paths:
                for name, one in variants:  # interleaved, so drifting load hits both alike
                    gc.collect()
                    samples[name][path].append(one(path, out_dir, clock))
        if args.cprofile:
            profile_functions(paths, out_dir, args.cprofile)
    for name, _ in variants:
        medians = per_image_medians(samples[name])
        print_table(name, medians, formats)
        if args.per_image:
            print_per_image(name, medians)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
