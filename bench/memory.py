"""Bounded memory: pixelmill's peak RSS as a job grows, and under a memory budget.

Issue "Resource-aware scheduling ... bounded memory". Three scenarios, all with
``Runtime(workers=2)``, the analyses ``rgb_histogram`` + ``channel_stats`` and
``save(format="jpeg", quality=85)``:

  small  one job over ``--small`` (200) photo-like 640x480 JPEGs, thumbnail 256;
  large  the same job over ``--large`` (5000) of them;
  big    ``Runtime(workers=2, memory_mb=256)`` over ``--big-count`` (6) 40-megapixel
         JPEGs (7744x5164), thumbnail 1024. A first ``thumbnail`` lets a JPEG decode
         at 1/2..1/8 scale (draft), so each item needs far less than 40 MP;
  bigfull the same, but with a full-size ``crop`` first, which forbids the draft:
         every pixel is decoded and each item's estimate exceeds the whole budget
         (skip it with ``--no-full-decode``).

For each: the *idle baseline* (RSS of the process tree with the Runtime started, its
workers up and idle, measured before submitting), the *peak* RSS of the tree during
the job (submit -> wait, sampled every 20 ms by ``PeakRSSSampler``), the job's wall
time and images/s. The process tree is this process, the fork server and the
workers (its children); shared pages count once per process, so it is an upper
bound. small vs large answers "does memory grow with the length of a job?": the
ratio of peaks large/small should be <= 1.3. big(full) answers "does the budget
bound memory?": peak - idle should stay within the 256 MB budget, i.e. peak <= budget
+ fixed overhead, where fixed overhead = the idle baseline. During every job another thread
asks ``rt.budget()`` every 50 ms: the table shows the most leases held at once, the
most MB leased at once and whether ``memory_mb_free`` ever went negative.

A second table splits the RSS by process (this process / fork server / workers /
other), sampled every 250 ms, to show *where* memory is when it grows.

Every scenario runs in a fresh interpreter (this script, re-invoked with
``--scenario``), so that one scenario's heap, threads and fork server do not count
in the next. The images are generated once (not timed, in a process pool) into
``<tempdir>/pixelmill-bench-memory/`` and reused by later runs.

Run:
    .venv/bin/python bench/memory.py                       # 200 / 5000 / 6 x 40 MP
    .venv/bin/python bench/memory.py --small 100 --large 1000 --big-count 2
    .venv/bin/python bench/memory.py --tracemalloc         # + top allocation growth
                                                           #   of this process (slower)
Results also go to JSON (``--json``, default bench/results/memory.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import psutil
from _common import MIB, BackgroundSampler, PeakRSSSampler, tree_rss, write_json
from PIL import Image
from rich.console import Console
from rich.table import Table

WORKERS = 2
SMALL_SIZE = (640, 480)
BIG_SIZE = (7744, 5164)  # 40.0 MP
BIG_BUDGET_MB = 256
TARGET_RATIO = 1.3
CACHE = Path(tempfile.gettempdir()) / "pixelmill-bench-memory"
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "memory.json"
# Wide enough for the table when the output is piped to a file or a log.
console = Console(width=None if sys.stdout.isatty() else 140)


# --- inputs, generated once -------------------------------------------------


def _write_small(path: Path, seed: int) -> None:
    from pixelmill.testing.images import write_photo_like

    tmp = path.with_name(f".{path.name}.tmp")
    write_photo_like(tmp, SMALL_SIZE, seed=seed, fmt="JPEG")
    tmp.replace(path)


def _write_big(path: Path, seed: int) -> None:
    """A smooth colour gradient plus noise, drawn at 1/8 scale and upscaled (bicubic)."""
    rng = np.random.default_rng([7744, seed])
    width, height = BIG_SIZE
    low_w, low_h = width // 8, height // 8
    top, bottom, side = rng.uniform(40, 215, (3, 3))
    y = np.linspace(0, 1, low_h)[:, None, None]
    x = np.linspace(-0.5, 0.5, low_w)[None, :, None]
    low = top * (1 - y) + bottom * y + (side - 128) * 0.6 * x
    low = low + rng.normal(0, 14, (low_h, low_w, 3))
    small = Image.fromarray(np.clip(low, 0, 255).astype(np.uint8))
    tmp = path.with_name(f".{path.name}.tmp")
    small.resize(BIG_SIZE, Image.Resampling.BICUBIC).save(tmp, "JPEG", quality=90)
    tmp.replace(path)


def _generate(kind: str, directory: Path, count: int) -> list[Path]:
    """The first ``count`` images of a kind in ``directory``, writing those missing."""
    writer, name = (_write_small, "photo") if kind == "small" else (_write_big, "big")
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}-{i:05d}.jpg" for i in range(count)]
    missing = [(p, i) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        console.print(f"generating {len(missing)} {kind} images in {directory} …", style="dim")
        # In a pool: faster, and keeps this process's heap out of what is measured.
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(writer, *zip(*missing, strict=False), chunksize=1 if kind == "big" else 64))
    return paths


def _job_dir(pool: list[Path], directory: Path) -> Path:
    """A directory holding exactly ``pool`` (hard links, else copies), for one job."""
    wanted = {p.name for p in pool}
    if directory.is_dir() and {p.name for p in directory.iterdir()} == wanted:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for src in pool:
        try:
            os.link(src, directory / src.name)
        except OSError:
            shutil.copy2(src, directory / src.name)
    return directory


def prepare_inputs(small: int, large: int, big: int) -> dict[str, Path]:
    photo_dir = CACHE / f"photos-{SMALL_SIZE[0]}x{SMALL_SIZE[1]}"
    photos = _generate("small", photo_dir, max(small, large))
    bigs = _generate("big", CACHE / f"big-{BIG_SIZE[0]}x{BIG_SIZE[1]}", big)
    dirs = {
        "small": _job_dir(photos[:small], CACHE / f"job-{small}"),
        "large": _job_dir(photos[:large], CACHE / f"job-{large}"),
        "big": _job_dir(bigs, CACHE / f"job-big-{big}"),
    }
    for directory in dirs.values():  # warm the page cache for every scenario alike
        for p in directory.iterdir():
            p.read_bytes()
    return dirs


# --- measuring, inside a scenario's interpreter -----------------------------


def rss_by_role(proc: psutil.Process) -> dict[str, int]:
    """RSS in bytes of ``proc`` ('main'), its fork server, the workers (the fork
    server's children) and any other descendants (the resource tracker)."""
    roles = {"main": 0, "forkserver": 0, "workers": 0, "other": 0}
    with contextlib.suppress(psutil.Error):
        roles["main"] = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            rss = child.memory_info().rss
            if child.ppid() != proc.pid:
                roles["workers"] += rss
            elif "forkserver" in " ".join(child.cmdline()):
                roles["forkserver"] += rss
            else:
                roles["other"] += rss
    return roles


class Timeline(BackgroundSampler):
    """Context manager: :func:`rss_by_role` every ``interval`` s on a daemon thread,
    with this process's count of allocated Python blocks (``sys.getallocatedblocks``)."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(interval, "rss-timeline")
        self.samples: list[dict[str, float]] = []
        self._proc = psutil.Process()
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the timeline started, on the samples' clock."""
        return time.perf_counter() - self._t0

    def _starting(self) -> None:
        self._t0 = time.perf_counter()

    def _sample(self) -> None:
        roles = rss_by_role(self._proc)
        row: dict[str, float] = {"t": round(self.elapsed(), 3)}
        row.update({k: round(v / MIB, 1) for k, v in roles.items()})
        row["blocks"] = sys.getallocatedblocks()
        self.samples.append(row)


class BudgetWatch:
    """Context manager: asks ``runtime.budget()`` every ``interval`` s from its own thread
    and keeps the extremes (most leases / MB held at once, least memory free)."""

    def __init__(self, runtime: Any, interval: float = 0.05) -> None:
        self.runtime = runtime
        self.interval = interval
        self.samples = 0
        self.max_leases = 0
        self.max_queued = 0
        self.max_used_mb = 0
        self.min_free_mb: int | None = None
        self.min_budget_mb: int | None = None
        self.negative_free = 0  # samples with memory_mb_free < 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="budget-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                b = self.runtime.budget()
            except Exception as exc:  # report, do not sink the job
                self.error = f"{type(exc).__name__}: {exc}"
                return
            self.samples += 1
            self.max_leases = max(self.max_leases, b.leases)
            self.max_queued = max(self.max_queued, b.queued)
            self.max_used_mb = max(self.max_used_mb, b.memory_mb - b.memory_mb_free)
            self.min_free_mb = b.memory_mb_free if self.min_free_mb is None else min(
                self.min_free_mb, b.memory_mb_free
            )
            self.min_budget_mb = b.memory_mb if self.min_budget_mb is None else min(
                self.min_budget_mb, b.memory_mb
            )
            self.negative_free += b.memory_mb_free < 0
            self._stop.wait(self.interval)

    def __enter__(self) -> BudgetWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "max_leases": self.max_leases,
            "max_queued": self.max_queued,
            "max_leased_mb": self.max_used_mb,
            "min_free_mb": self.min_free_mb,
            "min_budget_mb": self.min_budget_mb,
            "negative_free_samples": self.negative_free,
            "error": self.error,
        }


def idle_baseline(proc: psutil.Process, workers: int, timeout: float = 15.0) -> int:
    """Tree RSS once the workers are up and it has settled: the median of the last 5
    samples (100 ms apart) once they are within 1 MiB of each other, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        forked = [c for c in proc.children(recursive=True) if c.ppid() != proc.pid]
        if len(forked) >= workers:
            break
        time.sleep(0.05)
    window: list[int] = []
    while True:
        window = [*window[-4:], tree_rss(proc)]
        settled = len(window) == 5 and max(window) - min(window) <= MIB
        if settled or time.monotonic() >= deadline:
            return int(statistics.median(window))
        time.sleep(0.1)


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    """The lines that allocated most of what is alive in ``after`` and was not in
    ``before``, then the 3 largest call stacks (innermost 8 frames) for context."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    lines = [str(s) for s in after.compare_to(before, "lineno")[:12]]
    for stat in after.compare_to(before, "traceback")[:3]:
        lines.append(f"+{stat.size_diff / MIB:.2f} MiB in {stat.count_diff} blocks, allocated at:")
        lines.extend(f"    {frame}" for frame in stat.traceback.format()[-16:])
    return lines


def run_scenario(args: argparse.Namespace) -> dict[str, Any]:
    """One job in a fresh Runtime, measured; runs in its own interpreter."""
    import pixelmill as pm

    proc = psutil.Process()
    n = sum(1 for p in args.inputs.iterdir() if p.is_file())
    big = args.scenario in ("big", "bigfull")
    memory_mb = BIG_BUDGET_MB if big else None
    thumb = 1024 if big else 256
    steps = [pm.ops.thumbnail(thumb), pm.ops.save(format="jpeg", quality=85)]
    if args.scenario == "bigfull":  # a crop first: no JPEG draft, every pixel is decoded
        steps.insert(0, pm.ops.crop(0, 0, *BIG_SIZE))
    if args.tracemalloc:
        tracemalloc.start(25)
    out: dict[str, Any] = {"scenario": args.scenario, "images": n, "workers": WORKERS,
                           "memory_mb": memory_mb, "pipeline": [step.name for step in steps]}
    tmp_dir = tempfile.TemporaryDirectory(prefix=f"pm-bench-memory-{args.scenario}-")
    with tmp_dir as tmp, Timeline() as timeline:
        with pm.Runtime(workers=WORKERS, memory_mb=memory_mb) as rt:
            out["idle_rss"] = idle_baseline(proc, WORKERS)
            out["idle_roles"] = {k: v / MIB for k, v in rss_by_role(proc).items()}
            out["idle_budget"] = asdict(rt.budget())
            before = tracemalloc.take_snapshot() if args.tracemalloc else None
            t_job = timeline.elapsed()
            spec = pm.JobSpec(
                inputs=[args.inputs],
                export_dir=Path(tmp) / "out",
                pipeline=steps,
                analyses=["rgb_histogram", "channel_stats"],
            )
            with PeakRSSSampler() as rss, BudgetWatch(rt) as budget:
                start = time.perf_counter()
                handle = rt.submit(spec)
                if before is not None:
                    # Mid-job, while the job's state is alive: at 90 % of the items.
                    while not handle.done() and handle.progress().counts.done < 0.9 * n:
                        time.sleep(0.05)
                    after = tracemalloc.take_snapshot()
                    out["tracemalloc_top"] = top_growth(before, after)
                    out["tracemalloc_traced_mib"] = tracemalloc.get_traced_memory()[0] / MIB
                result = handle.wait(timeout=args.timeout)
                job_s = time.perf_counter() - start
            out["job_start_t"] = t_job
            out["job_end_t"] = timeline.elapsed()
            out["end_rss"] = tree_rss(proc)
            history = rt.metrics().history
            out["monitor_peak_rss_mib"] = max((s.rss_mb for s in history), default=None)
        out["status"] = str(getattr(result.status, "value", result.status))
        out["counts"] = result.counts.as_dict()
    out.update(
        peak_rss=rss.peak,
        cpu_s=rss.cpu_s,
        job_s=job_s,
        budget=budget.summary(),
        timeline=timeline.samples,
    )
    return out


# --- the orchestrating process ---------------------------------------------


@dataclass
class Outcome:
    key: str
    label: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def spawn_scenario(key: str, label: str, inputs: Path, args: argparse.Namespace) -> Outcome:
    console.print(f"running {label} …", style="dim")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = Path(f.name)
    command = [sys.executable, str(Path(__file__).resolve()), "--scenario", key,
               "--inputs", str(inputs), "--result", str(result_path),
               "--timeout", str(args.timeout)]
    if args.tracemalloc and key in ("small", "large"):
        command.append("--tracemalloc")
    try:
        proc = subprocess.run(command, check=False)
        text = result_path.read_text() if result_path.exists() else ""
        if proc.returncode != 0 or not text:
            return Outcome(key, label, error=f"scenario exited with {proc.returncode}")
        return Outcome(key, label, json.loads(text))
    finally:
        result_path.unlink(missing_ok=True)


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:.0f}"


def role_peaks(timeline: list[dict[str, float]], start: float, end: float) -> dict[str, float]:
    """The sample with the largest total during [start, end], split by role (MiB)."""
    during = [s for s in timeline if start <= s["t"] <= end] or timeline
    top = max(during, key=lambda s: s["main"] + s["forkserver"] + s["workers"] + s["other"])
    return {k: top[k] for k in ("main", "forkserver", "workers", "other", "blocks")}


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    table = Table(
        title=f"pixelmill peak RSS of the process tree, workers={WORKERS}, {os.cpu_count()} CPUs",
        caption="leases / leased MB: most held at once; free MB: least memory_mb_free "
        "(rt.budget() every 50 ms)",
    )
    for name, justify in (("job", "left"), ("images", "right"), ("budget MB", "right"),
                          ("idle MiB", "right"), ("peak MiB", "right"),
                          ("over idle", "right"), ("job s", "right"), ("img/s", "right"),
                          ("leases", "right"), ("leased MB", "right"),
                          ("free MB", "right"), ("done", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for o in outcomes:
        d = o.data
        if not d:
            table.add_row(o.label, f"[red]{o.error}")
            continue
        b = d["budget"]
        table.add_row(
            o.label,
            str(d["images"]),
            str(d["memory_mb"] or "auto"),
            mib(d["idle_rss"]),
            mib(d["peak_rss"]),
            mib(d["peak_rss"] - d["idle_rss"]),
            f"{d['job_s']:.1f}",
            f"{d['images'] / d['job_s']:.1f}",
            str(b["max_leases"]),
            str(b["max_leased_mb"]),
            str(b["min_free_mb"]),
            f"{d['counts'].get('done')}/{d['images']}",
        )
    console.print(table)

    roles = Table(title="where the RSS is at the job's largest 250 ms sample (MiB)")
    for name in ("job", "main", "fork server", "workers", "other", "py blocks (main)"):
        roles.add_column(name, justify="left" if name == "job" else "right")
    for o in outcomes:
        if not o.data:
            continue
        d = o.data
        idle = role_peaks(d["timeline"], 0, d["job_start_t"])
        peak = role_peaks(d["timeline"], d["job_start_t"], d["job_end_t"])
        for tag, r in (("idle", idle), ("peak", peak)):
            roles.add_row(f"{o.label} {tag}", f"{r['main']:.0f}", f"{r['forkserver']:.0f}",
                          f"{r['workers']:.0f}", f"{r['other']:.0f}", f"{r['blocks']:,.0f}")
    console.print(roles)

    verdict: dict[str, Any] = {}
    by_key = {o.key: o.data for o in outcomes if o.data}
    if "small" in by_key and "large" in by_key:
        s, l = by_key["small"], by_key["large"]
        ratio = l["peak_rss"] / s["peak_rss"]
        over_idle = (l["peak_rss"] - l["idle_rss"]) / max(1, s["peak_rss"] - s["idle_rss"])
        ok = ratio <= TARGET_RATIO
        console.print(
            f"peak RSS {l['images']}/{s['images']} images: [bold]{ratio:.3f}[/]  "
            f"(target <= {TARGET_RATIO}: {'[green]met' if ok else '[red]missed'}[/]); "
            f"above idle: {over_idle:.2f}x"
        )
        verdict["large_over_small"] = ratio
        verdict["large_over_small_above_idle"] = over_idle
        verdict["target_ratio"] = TARGET_RATIO
        verdict["ratio_met"] = ok
    for key in ("big", "bigfull"):
        if key not in by_key:
            continue
        d = by_key[key]
        budget_mib = d["memory_mb"] * MIB
        bound = d["idle_rss"] + budget_mib
        ok = d["peak_rss"] <= bound
        b = d["budget"]
        console.print(
            f"{key}: peak {mib(d['peak_rss'])} MiB = idle {mib(d['idle_rss'])} (fixed overhead) + "
            f"{mib(d['peak_rss'] - d['idle_rss'])}; budget + fixed overhead = {mib(bound)} MiB: "
            f"{'[green]within' if ok else '[red]exceeded'}[/]. "
            f"Leases at once <= {b['max_leases']}, memory_mb_free "
            f"{'[red]went negative[/]' if b['negative_free_samples'] else 'never negative'} "
            f"(min {b['min_free_mb']}, {b['samples']} samples"
            f"{', error: ' + b['error'] if b['error'] else ''})"
        )
        verdict[f"{key}_within_budget_plus_overhead"] = ok
        verdict[f"{key}_budget_plus_overhead_mib"] = bound / MIB
        verdict[f"{key}_memory_mb_free_went_negative"] = bool(b["negative_free_samples"])
    for o in outcomes:
        if o.data.get("tracemalloc_top"):
            console.print(f"[bold]{o.label}[/]: top growth of this process's Python heap "
                          f"(tracemalloc, idle -> job end)")
            for line in o.data["tracemalloc_top"]:
                console.print(f"  {line}", markup=False)
    return verdict


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="images in the small job")
    parser.add_argument("--large", type=int, default=5000, help="images in the large job")
    parser.add_argument("--big-count", type=int, default=6, help="40 MP images in the big job")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument(
        "--no-full-decode", dest="full_decode", action="store_false",
        help="skip the extra big job whose first step (a full-size crop) forbids JPEG draft",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="per job, seconds")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace this process's allocations in small/large (slower)")
    # internal: one scenario in this interpreter
    parser.add_argument(
        "--scenario", choices=("small", "large", "big", "bigfull"), help=argparse.SUPPRESS
    )
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario:
        args.result.write_text(json.dumps(run_scenario(args)))
        return 0
    dirs = prepare_inputs(args.small, args.large, args.big_count)
    outcomes = [
        spawn_scenario("small", f"small {args.small} x 640x480", dirs["small"], args),
        spawn_scenario("large", f"large {args.large} x 640x480", dirs["large"], args),
        spawn_scenario("big", f"big {args.big_count} x 40MP", dirs["big"], args),
    ]
    if args.full_decode:
        outcomes.append(
            spawn_scenario("bigfull", f"big {args.big_count} x 40MP crop",
                           dirs["big"], args)
        )
    verdict = report(outcomes)
    meta = {
        "workers": WORKERS,
        "cpu_count": os.cpu_count(),
        "small_size": SMALL_SIZE,
        "big_size": BIG_SIZE,
        "cache": str(CACHE),
        "tracemalloc": args.tracemalloc,
        "python": sys.version.split()[0],
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(args.json, {
        "meta": meta,
        "verdict": verdict,
        "scenarios": {o.key: {"label": o.label, "error": o.error, **o.data} for o in outcomes},
    })
    console.print(f"wrote {args.json}")
    return 0 if all(o.data for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
