"""pixelmill's fixed and per-item costs, where the images are too small to hide them.

Three figures, each the median over ``--rounds`` runs:

  tiny items/s   a job of ``--tiny`` 64x64 JPEGs through the throughput benchmark's
                 pipeline (thumbnail 1024, save JPEG q85, rgb_histogram +
                 channel_stats), on a Runtime already started (the job alone), and
                 the same images through a plain ``ProcessPoolExecutor(os.cpu_count())``
                 for comparison;
  Runtime        in a fresh process (pixelmill imported): ``Runtime()`` then
                 ``shutdown()`` at once, and ``Runtime()`` -> a one-image job done ->
                 ``shutdown()`` (the fork server's and workers' start-up included);
  CLI start-up   ``pixelmill run IMAGE --json`` as a new process: from the spawn to the
                 first item's line on its stdout, and to its exit.

Run:
    .venv/bin/python bench/overhead.py
    .venv/bin/python bench/overhead.py --tiny 5000 --rounds 5
Results also go to JSON (``--json``, default bench/results/overhead.json).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np
from _common import write_json
from PIL import Image
from rich.console import Console
from rich.table import Table
from throughput import pillow_one, write_csv

import pixelmill as pm

CPUS = os.cpu_count() or 1
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "overhead.json"
PIPELINE = [pm.ops.thumbnail(1024), pm.ops.save(format="jpeg", quality=85)]
ANALYSES = ["rgb_histogram", "channel_stats"]
console = Console()


def make_tiny(dest: Path, count: int) -> list[Path]:
    """``count`` distinct 64x64 JPEGs of smooth noise."""
    rng = np.random.default_rng(64)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((64, 64), Image.Resampling.BILINEAR)
        path = dest / f"tiny-{i:05d}.jpg"
        image.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def spec(paths: Sequence[Path], out_dir: Path) -> pm.JobSpec:
    return pm.JobSpec(
        inputs=list(paths), pipeline=PIPELINE, analyses=ANALYSES, export_dir=out_dir
    )


def timed(run: Callable[[Path], object]) -> float:
    """Seconds that ``run(fresh_output_dir)`` takes."""
    with tempfile.TemporaryDirectory(prefix="pm-overhead-") as tmp:
        start = time.perf_counter()
        run(Path(tmp))
        return time.perf_counter() - start


def tiny_job(runtime: pm.Runtime, paths: Sequence[Path]) -> float:
    def run(out: Path) -> None:
        result = runtime.submit(spec(paths, out)).wait(timeout=600)
        if result.counts.done != len(paths):
            raise RuntimeError(f"pixelmill finished {result.counts.as_dict()}")

    return timed(run)


def tiny_pool(paths: Sequence[Path]) -> float:
    from concurrent.futures import ProcessPoolExecutor

    def run(out: Path) -> None:
        with ProcessPoolExecutor(max_workers=CPUS) as pool:
            write_csv(out, pool.map(pillow_one, paths, repeat(out), chunksize=16))

    return timed(run)


# Timed in a fresh interpreter, after `import pixelmill`: the first Runtime of a
# process also starts the fork server its workers are forked from.
_RUNTIME_START = """
import sys, time
from pathlib import Path
import pixelmill as pm
image, out = sys.argv[1:3]
start = time.perf_counter()
with pm.Runtime() as runtime:
    if image:
        spec = pm.JobSpec(inputs=[image], pipeline=[pm.ops.thumbnail(1024), pm.ops.save()],
                          analyses=["rgb_histogram", "channel_stats"], export_dir=Path(out))
        runtime.submit(spec).wait(timeout=60)
print(time.perf_counter() - start)
"""


def runtime_start(image: Path | None) -> float:
    """Seconds from `Runtime()` to the end of its `shutdown()`, in a fresh process,
    with a one-image job in between when `image` is given."""
    with tempfile.TemporaryDirectory(prefix="pm-overhead-rt-") as tmp:
        command = [sys.executable, "-c", _RUNTIME_START, str(image or ""), tmp]
        env = {**os.environ, "PIXELMILL_STATE": tmp}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def cli_start(image: Path) -> tuple[float, float]:
    """(seconds to the first item's line, seconds to exit) of `pixelmill run`."""
    command = [str(Path(sys.executable).with_name("pixelmill")), "run", str(image), "--json"]
    with tempfile.TemporaryDirectory(prefix="pm-overhead-cli-") as tmp:
        command += ["--out", tmp, "--state", tmp]
        start = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None
            first = None
            for line in proc.stdout:
                if first is None and '"ItemFinished"' in line:
                    first = time.perf_counter() - start
            code = proc.wait()
        total = time.perf_counter() - start
    if code != 0 or first is None:
        raise RuntimeError(f"`{' '.join(command)}` exited {code} (first item: {first})")
    return first, total


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", type=int, default=2000, help="64x64 images (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="pm-overhead-in-") as tmp:
        paths = make_tiny(Path(tmp), args.tiny)
        with pm.Runtime() as runtime:
            tiny_job(runtime, paths[:50])  # workers up and warm
            for i in range(args.rounds):
                console.print(f"round {i + 1}/{args.rounds}", style="dim")
                add("tiny_pixelmill", len(paths) / tiny_job(runtime, paths))
                add("tiny_pool", len(paths) / tiny_pool(paths))
        for i in range(args.rounds):
            add("runtime_bare_s", runtime_start(None))
            add("runtime_one_item_s", runtime_start(paths[i]))
            first, total = cli_start(paths[i])
            add("cli_first_item_s", first)
            add("cli_exit_s", total)

    medians = {key: statistics.median(values) for key, values in figures.items()}
    table = Table(title=f"{args.tiny} tiny images, {CPUS} CPUs, medians of {args.rounds}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows = [
        ("tiny images, pixelmill job (items/s)", "tiny_pixelmill", "{:.0f}", ">= 1000"),
        (f"tiny images, ProcessPoolExecutor({CPUS}) (items/s)", "tiny_pool", "{:.0f}", ""),
        ("Runtime() + shutdown() (s)", "runtime_bare_s", "{:.3f}", "< 0.5"),
        ("Runtime() + 1-image job + shutdown() (s)", "runtime_one_item_s", "{:.3f}", "< 0.5"),
        ("`pixelmill run`: spawn to first item (s)", "cli_first_item_s", "{:.3f}", "< 0.5"),
        ("`pixelmill run`: spawn to exit (s)", "cli_exit_s", "{:.3f}", ""),
    ]
    for label, key, fmt, target in rows:
        table.add_row(label, fmt.format(medians[key]), target)
    console.print(table)
    meta = {
        "tiny_images": args.tiny,
        "rounds": args.rounds,
        "cpu_count": CPUS,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(args.json, {"meta": meta, "medians": medians, "runs": figures})
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
