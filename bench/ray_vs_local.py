"""The Ray backend against the local one (and a plain process pool), on one machine.

One Runtime per backend is started once and warmed up with a two-image job:
what that takes is the backend's start-up cost (for Ray: ``ray.init`` on
loopback plus its worker actors), reported on its own. Then the same job, the
throughput benchmark's pipeline over the whole corpus, runs ``--rounds``
times on each, interleaved (local, ray, pool, local, ray, pool, ...), and the
table shows medians of images/s and the ratios. The pool is
``ProcessPoolExecutor(os.cpu_count())`` with plain Pillow, as variant b of
``bench/throughput.py``.

Run:
    .venv/bin/python bench/ray_vs_local.py --corpus ../shared/corpus/photos --rounds 5
Results also go to JSON (``--json``, default bench/results/ray_vs_local.json).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import generate_photos, list_images, write_json
from rich.console import Console
from rich.table import Table
from throughput import THUMB, pillow_one, pool_runner

import pixelmill as pm

CPUS = os.cpu_count() or 1
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "ray_vs_local.json"
console = Console()


def job(paths: Sequence[Path], out: Path) -> pm.JobSpec:
    return pm.JobSpec(
        inputs=list(paths),
        pipeline=[pm.ops.thumbnail(THUMB), pm.ops.save(format="jpeg", quality=85)],
        analyses=["rgb_histogram", "channel_stats"],
        export_dir=out,
    )


def run_job(runtime: pm.Runtime, paths: Sequence[Path]) -> float:
    """Seconds one job over `paths` takes on a started runtime."""
    with tempfile.TemporaryDirectory(prefix="pm-ray-vs-local-") as tmp:
        start = time.perf_counter()
        result = runtime.submit(job(paths, Path(tmp))).wait(timeout=600)
        seconds = time.perf_counter() - start
    if result.counts.done != len(paths):
        raise RuntimeError(f"the job finished {result.counts.as_dict()}")
    return seconds


def start_runtime(backend: str, warm_up: Sequence[Path]) -> tuple[pm.Runtime, float]:
    """A started, warmed-up runtime and the seconds that took."""
    start = time.perf_counter()
    runtime = pm.Runtime(workers=CPUS, backend=backend)
    run_job(runtime, warm_up)
    return runtime, time.perf_counter() - start


def timed_pool(paths: Sequence[Path]) -> float:
    run = pool_runner(pillow_one)
    with tempfile.TemporaryDirectory(prefix="pm-ray-vs-local-pool-") as tmp:
        start = time.perf_counter()
        run(paths, Path(tmp))
        return time.perf_counter() - start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="directory of input images")
    parser.add_argument("--generate", type=int, default=24, metavar="N",
                        help="without --corpus: generate N photo-like images (default 24)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pm-ray-vs-local-in-") as generated:
        if args.corpus is None:
            paths = generate_photos(Path(generated), args.generate)
        else:
            paths = list_images(args.corpus)
        for path in paths:
            path.read_bytes()  # a warm page cache for everyone
        local, local_start = start_runtime("local", paths[:2])
        ray, ray_start = start_runtime("ray", paths[:2])
        rates: dict[str, list[float]] = {"local": [], "ray": [], "pool": []}
        runs: dict[str, Callable[[], float]] = {
            "local": lambda: run_job(local, paths),
            "ray": lambda: run_job(ray, paths),
            "pool": lambda: timed_pool(paths),
        }
        try:
            for i in range(args.rounds):
                console.print(f"round {i + 1}/{args.rounds}", style="dim")
                for key, run in runs.items():
                    rates[key].append(len(paths) / run())
        finally:
            ray.shutdown()
            local.shutdown()
    medians = {key: statistics.median(values) for key, values in rates.items()}
    table = Table(title=f"{len(paths)} images, {CPUS} CPUs, medians of {args.rounds} rounds")
    for column in ("backend", "img/s", "vs local", "vs pool", "start-up s"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    starts = {"local": local_start, "ray": ray_start, "pool": None}
    for key, label in (("local", f"pixelmill local, {CPUS} workers"),
                       ("ray", f"pixelmill ray, {CPUS} Ray actors"),
                       ("pool", f"ProcessPoolExecutor({CPUS}), plain Pillow")):
        start = starts[key]
        table.add_row(
            label,
            f"{medians[key]:.2f}",
            f"{medians[key] / medians['local']:.2f}",
            f"{medians[key] / medians['pool']:.2f}",
            "-" if start is None else f"{start:.2f}",
        )
    console.print(table)
    meta = {
        "corpus": str(args.corpus or f"{len(paths)} generated images"),
        "images": len(paths),
        "rounds": args.rounds,
        "cpu_count": CPUS,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(args.json, {"meta": meta, "medians": medians, "start_s": starts, "runs": rates})
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
