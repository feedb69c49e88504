# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""Embed pixelmill in a host application and follow a job with a progress callback."""

import tempfile
from pathlib import Path

from pixelmill import JobEvent, JobSpec, Runtime, ops
from pixelmill.messages import ItemFinished, JobFinished, JobProgress
from pixelmill.testing import write_sample_set


class ProgressPrinter:
    """Prints a line per finished item. `on_event` calls it on one runtime thread."""

    def __init__(self) -> None:
        self.finished = 0
        self.total = "?"  # known from the first JobProgress, final once `expanded`

    def __call__(self, event: JobEvent) -> None:
        # Keep it short: while it runs, the events of every job wait for it.
        match event:
            case JobProgress(counts=counts):
                self.total = str(counts.total)
            case ItemFinished(path=path, status=status, reason=reason, duration_ms=ms):
                self.finished += 1
                detail = reason or f"{ms:.0f} ms"
                name = Path(path).name
                print(f"{self.finished:>3}/{self.total:<3} {status:<8} {name} ({detail})")
            case JobFinished(job_id=job_id, status=status, duration_s=seconds):
                print(f"job {job_id} {status} in {seconds:.1f} s")


if __name__ == "__main__":
    # The export is kept after the script ends, so that you can open report.html.
    workdir = Path(tempfile.mkdtemp(prefix="pixelmill-embed-"))

    # 1. Make some inputs: 8 small photo-like images and 2 broken files.
    write_sample_set(workdir / "inputs", count=8, broken=2)

    # 2. Start an embedded Runtime; leaving the `with` block drains and shuts it down.
    with Runtime(workers=2, state_dir=workdir / "state") as runtime:
        # 3. Submit a job: thumbnail, save as WebP, measure each result.
        spec = JobSpec(
            inputs=[workdir / "inputs"],
            pipeline=[ops.thumbnail(128), ops.save(format="webp", quality=80)],
            analyses=["channel_stats", "sharpness"],
            export_dir=workdir / "out",
            name="thumbnails",
        )
        handle = runtime.submit(spec, on_event=ProgressPrinter())

        # 4. Block until the job ends, then say how it went and where to look.
        result = handle.wait(timeout=300)

    print("counts:", result.counts.as_dict())
    for path in result.export_files:
        print(f"  {path.name:<14} {path}")
