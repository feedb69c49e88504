# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""Scripted log inspection: errors grouped by class, and the slowest items."""

import tempfile
from pathlib import Path

from pixelmill import JobSpec, Runtime, ops
from pixelmill.logs import LogFilter, read_records, summarize
from pixelmill.testing import write_sample_set

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="pixelmill-logs-") as tmp:
        workdir = Path(tmp)
        log_file = workdir / "pixelmill.jsonl"

        # 1. A job over 6 good images and 8 broken files, logging JSON lines to `log_file`.
        write_sample_set(workdir / "inputs", count=6, broken=8)
        with Runtime(workers=2, state_dir=workdir / "state", log_file=log_file) as runtime:
            spec = JobSpec(inputs=[workdir / "inputs"], export_dir=workdir / "out",
                           pipeline=[ops.thumbnail(256)], analyses=["sharpness"])
            job_id = runtime.submit(spec).wait(timeout=300).job_id

        # 2. Summarise the whole log in one pass.
        summary = summarize(read_records([log_file]), slowest=3)
        for job in summary.jobs:
            counts = job.counts.as_dict() if job.counts else "unfinished"
            seconds = (job.duration_ms or 0) / 1000
            print(f"job {job.job_id}: {job.status} in {seconds:.1f} s, {counts}")

        # 3. Errors grouped by their dotted class, most frequent first.
        print("errors by class:")
        for group in summary.errors:
            names = ", ".join(Path(item).name for item in group.examples)
            print(f"  {group.reason:<20} x{group.count}  e.g. {names}")

        # 4. The slowest items.
        print("slowest items:")
        for slow in summary.slowest:
            print(f"  {slow.duration_ms:7.1f} ms  {Path(slow.item).name}")

        # 5. Or pick records yourself; a record is the line's JSON object, as a dict.
        top = summary.errors[0].reason
        print(f"every {top} of job {job_id}:")
        failures = LogFilter(job=job_id, event="item.failed")
        for record in filter(failures.matches, read_records([log_file])):
            if record["reason"] == top:
                message = record["error"].removeprefix(record["item"] + ": ")
                print(f"  {Path(record['item']).name}: {message}")
