"""The result cache: what a re-run costs when nothing, or little, changed.

In one run, over ``--count`` photos of ``--size`` made from the corpus (crops of its
photos at several offsets, saved as JPEG quality 90: distinct bytes each), with the
throughput benchmark's pipeline (thumbnail 1024, save JPEG q85, rgb_histogram +
channel_stats) and one state dir:

  pillow        the plain Pillow loop over the images (the baseline: no cache);
  first         ``pixelmill run`` on the folder, empty cache;
  unchanged     the same again: every item from the cache;
  3 changed     three images rewritten (other bytes): three decoded, the rest cached;
  verify        ``--verify-cache``: every file hashed again, all cached;
  no-cache      ``--no-cache``: every item worked again.

Each is timed as a user sees it: the whole ``pixelmill run`` process, start-up
included, and the job alone (the summary's ``duration_s``). The processes run
as an installed pixelmill does, with its modules' bytecode cached (compiled once
before the first round, even where ``PYTHONDONTWRITEBYTECODE`` is set here). Rounds repeat the
sequence with a fresh state dir; the table shows medians.

Then the per-item cost of an unchanged re-run where images are too small to hide it:
``--small`` 16x16 PNGs (default 10,000), a first job and an unchanged re-run on one
started Runtime; the re-run's job time over its items is the cost per item (stat,
store lookup, the item's record exported). And, alone, what the re-run pays to know
each item is cached (`lookup_cost`: stat, stored hash, cache entry, output's stat).

Run:
    .venv/bin/python bench/cache.py --corpus /work/shared/corpus/photos
    .venv/bin/python bench/cache.py --corpus DIR --count 150 --rounds 3 --small 10000
Results also go to JSON (``--json``, default bench/results/cache.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import list_images, write_json
from PIL import Image, ImageOps
from rich.console import Console
from rich.table import Table
from throughput import run_sequential

import pixelmill as pm
from pixelmill.store import STORE_FILE, JobStore

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "cache.json"
STEPS = ("first", "unchanged", "3 changed", "verify", "no-cache")
console = Console()


def make_photos(corpus: Path, dest: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """`count` JPEGs of `size`, cropped from the corpus's photos at shifting offsets."""
    sources = list_images(corpus)
    if not sources:
        raise SystemExit(f"--corpus {corpus}: no images there")
    dest.mkdir(parents=True)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as src:
            image = ImageOps.exif_transpose(src).convert("RGB")
        shift = i // len(sources)
        scale = max(size[0] / image.width, size[1] / image.height) * (1 + 0.05 * (shift % 5))
        image = image.resize((round(image.width * scale) + 1, round(image.height * scale) + 1))
        left = (shift * 37) % max(1, image.width - size[0])
        top = (shift * 23) % max(1, image.height - size[1])
        path = dest / f"photo-{i:04d}.jpg"
        image.crop((left, top, left + size[0], top + size[1])).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def change(paths: list[Path]) -> None:
    """Rewrite each image mirrored: other bytes, same size on screen."""
    for path in paths:
        with Image.open(path) as image:
            ImageOps.mirror(image).save(path, "JPEG", quality=90)


# As a user's shell runs it: bytecode written once and then read, not compiled each time.
RUN_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def compile_once() -> None:
    """Import the command line once, so that its modules' bytecode is cached."""
    subprocess.run([sys.executable, "-c", "import pixelmill.cli.main, pixelmill.report"],
                   env=RUN_ENV, check=True)


def pixelmill_run(folder: Path, out: Path, state: Path, *flags: str) -> tuple[float, float, dict]:
    """Wall seconds of `pixelmill run`, the job's own seconds, its counts."""
    command = [sys.executable, "-m", "pixelmill", "run", str(folder), "--out", str(out),
               "--state", str(state), "--thumbnail", "1024", "--format", "jpeg",
               "--quality", "85", "--analyses", "rgb_histogram,channel_stats", "--quiet",
               *flags]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=RUN_ENV)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pixelmill run exited {done.returncode}:\n{done.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    return wall, float(summary["duration_s"]), summary["counts"]


def one_round(photos: list[Path], folder: Path, work: Path) -> dict[str, Any]:
    state, out = work / "state", work / "out"
    started = time.perf_counter()
    pillow_out = work / "pillow"
    pillow_out.mkdir()
    run_sequential(photos, pillow_out)
    timings: dict[str, Any] = {"pillow": {"wall": time.perf_counter() - started}}
    for step in STEPS:
        if step == "3 changed":
            change(photos[1::max(1, len(photos) // 3)][:3])  # three, spread out
        flags = {"verify": ("--verify-cache",), "no-cache": ("--no-cache",)}.get(step, ())
        wall, job, counts = pixelmill_run(folder, out, state, *flags)
        timings[step] = {"wall": wall, "job": job, "counts": counts}
    shutil.rmtree(state)
    shutil.rmtree(out)
    shutil.rmtree(pillow_out)
    return timings


def small_cost(dest: Path, count: int) -> dict[str, float]:
    """Per-item seconds of an unchanged re-run of `count` 16x16 PNGs (job only)."""
    rng = np.random.default_rng(16)
    dest.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            dest / f"s-{i:05d}.png")
    spec = pm.JobSpec(inputs=[dest], export_dir=dest.parent / "small-out",
                      pipeline=[pm.ops.thumbnail(8), pm.ops.save(format="png")],
                      analyses=["channel_stats"])
    with pm.Runtime(state_dir=dest.parent / "small-state") as runtime:
        started = time.perf_counter()
        first = runtime.submit(spec).wait(timeout=3600)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = runtime.submit(spec).wait(timeout=3600)
        again_s = time.perf_counter() - started
    assert again.counts.cached == count, again.counts
    lookup_s = lookup_cost(dest, dest.parent / "small-state")
    return {"items": count, "first_s": first_s, "rerun_s": again_s,
            "lookup_ms_per_item": 1000 * lookup_s / count,
            "first_ms_per_item": 1000 * first_s / count,
            "rerun_ms_per_item": 1000 * again_s / count,
            "first_done": first.counts.done}


def lookup_cost(folder: Path, state: Path) -> float:
    """Seconds for what an unchanged re-run pays to know each item is cached, alone:
    the file's stat, its stored hash and the cache's entry for it (asked 500 at a
    time, as the JobManager does), and the stat of its output."""
    with contextlib.closing(sqlite3.connect(state / STORE_FILE)) as db:
        (fingerprint,) = db.execute("SELECT DISTINCT fingerprint FROM cache").fetchone()
    started = time.perf_counter()
    with JobStore.in_dir(state, readonly=True) as store:
        paths = sorted(os.scandir(folder), key=lambda entry: entry.name)
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            stats = [entry.stat() for entry in chunk]
            known = store.file_hashes([entry.path for entry in chunk])
            hashes = [known[entry.path].content_hash for entry in chunk]
            entries = store.cache_entries(fingerprint, hashes)
            assert len(stats) == len(entries) == len(chunk)
            assert all(entries[digest].outputs[0].intact() for digest in hashes)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=10_000, help="0: skip")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="pixelmill-cache-bench-") as tmp:
        work = Path(tmp)
        folder = work / "photos"
        console.print(f"making {args.count} photos of {args.size} from {args.corpus} ...")
        photos = make_photos(args.corpus, folder, args.count, (width, height))
        originals = work / "originals"
        shutil.copytree(folder, originals)
        compile_once()
        rounds = []
        for number in range(args.rounds):
            shutil.rmtree(folder)
            shutil.copytree(originals, folder)  # the changed three, as they were
            rounds.append(one_round(photos, folder, work))
            console.print(f"round {number + 1}: " + ", ".join(
                f"{step} {timings['wall']:.2f} s" for step, timings in rounds[-1].items()))
        small = small_cost(work / "small", args.small) if args.small else None

    table = Table(title=f"re-runs of {args.count} photos of {args.size}, "
                        f"median of {args.rounds} (wall: the whole pixelmill run process)")
    for column in ("run", "wall s", "first / this (wall)", "job s", "first / this (job)",
                   "done", "cached"):
        table.add_column(column, justify="left" if column == "run" else "right")
    first_wall = statistics.median(r["first"]["wall"] for r in rounds)
    first_job = statistics.median(r["first"]["job"] for r in rounds)
    summary: dict[str, Any] = {}
    for step in ("pillow", *STEPS):
        wall = statistics.median(r[step]["wall"] for r in rounds)
        job = statistics.median(r[step]["job"] for r in rounds) if step != "pillow" else None
        counts = rounds[-1][step].get("counts", {})
        summary[step] = {"wall_s": wall, "job_s": job, "counts": counts}
        table.add_row(step, f"{wall:.2f}", f"{first_wall / wall:.1f}x",
                      "-" if job is None else f"{job:.2f}",
                      "-" if job is None else f"{first_job / job:.1f}x",
                      str(counts.get("done", "-")), str(counts.get("cached", "-")))
    console.print(table)
    if small:
        console.print(f"{small['items']} small files: first job {small['first_s']:.2f} s, "
                      f"unchanged re-run {small['rerun_s']:.2f} s = "
                      f"{small['rerun_ms_per_item']:.3f} ms per item, of which stat + "
                      f"store lookup alone {small['lookup_ms_per_item']:.3f} ms")
    write_json(args.json, {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "count": args.count, "size": args.size, "rounds": rounds, "median": summary,
        "small": small,
    })


if __name__ == "__main__":
    main()
