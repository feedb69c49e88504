"""The fuzz drill: many mutated images of every format made here, run as one job.

The long version of tests/testing/test_fuzz.py: writes `--count` files (bit
flips, truncations, header and chunk field edits; `--seed` fixes them), runs
them through one `Runtime` job, and prints how each ended, by class. Exits 1
if a file is not accounted for, an item ended with a class other than
`input.*` or `resource.*` (listed), or the Runtime cannot run a good job after.

Run:
    TMPDIR=/var/tmp .venv/bin/python bench/fuzz.py --count 50000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pixelmill import JobSpec, Runtime, ops
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import write_sample_set
from pixelmill.testing.fuzz import unexpected, write_fuzz_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="files (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--item-timeout", type=float, default=30.0, metavar="S")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pm-fuzz-") as tmp:
        root = Path(tmp)
        start = time.monotonic()
        written = write_fuzz_corpus(root / "in", args.count, seed=args.seed)
        print(f"wrote {len(written)} files in {time.monotonic() - start:.1f} s")
        with Runtime(workers=args.workers, item_timeout_s=args.item_timeout, journal=False,
                     recovery=RecoveryPolicy(systemic_window=0)) as runtime:
            start = time.monotonic()
            result = runtime.submit(JobSpec(
                inputs=[str(root / "in")], export_dir=root / "out",
                pipeline=[ops.thumbnail(16), ops.save(format="png")],
                analyses=["rgb_histogram", "channel_stats"],
            )).wait()
            print(f"job {result.status.value} in {time.monotonic() - start:.1f} s")
            good = write_sample_set(root / "good", 3, seed=3)
            after = runtime.submit(JobSpec(inputs=[str(p) for p in good],
                                           export_dir=root / "after")).wait(timeout=120)
        items = json.loads((root / "out" / "summary.json").read_text())["items"]
        outcomes = Counter(f"{item['status']} {item['reason'] or ''}".strip() for item in items)
        for outcome, number in outcomes.most_common():
            print(f"  {number:6d}  {outcome}")
        for reason, number in result.ignored.by_reason().items():
            print(f"  {number:6d}  ignored {reason}")
        problems = unexpected(items)
        for item in problems:
            print(f"UNEXPECTED {item['path']}: {item['reason']}: {item['message']}")
        accounted = len(items) + result.ignored.total == len(written)
        if not accounted:
            print(f"NOT ACCOUNTED FOR: {len(items)} items + {result.ignored.total} ignored "
                  f"of {len(written)} files")
        if not after.ok:
            print(f"the good job after it ended {after.counts.as_dict()}")
        return 0 if accounted and not problems and after.ok else 1


if __name__ == "__main__":
    sys.exit(main())
