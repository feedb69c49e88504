# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""Embed pixelmill in a host application and follow a job with a progress callback."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from pixelmill import JobEvent, JobSpec, Runtime, ops
from pixelmill.messages import ItemFinished, JobFinished
from pixelmill.testing_images import write_sample_set


class ProgressPrinter:
    """Prints one line per finished item; `on_event` calls it from a runtime thread."""

    def __init__(self) -> None:
        self.finished = 0
        self.lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        # Keep the callback short: it runs on the runtime's relay thread.
        if isinstance(event, ItemFinished):
            with self.lock:
                self.finished += 1
                detail = event.reason or f"{event.duration_ms:.0f} ms"
                print(f"[{self.finished:2d}] {event.status:<8} {Path(event.path).name} ({detail})")
        elif isinstance(event, JobFinished):
            print(f"job {event.job_id} {event.status} in {event.duration_s:.1f} s")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="pixelmill-embed-") as tmp:
        # 1. Make some inputs: 8 small photo-like images and 2 broken files.
        inputs = Path(tmp) / "inputs"
        write_sample_set(inputs, count=8, broken=2)

        # 2. Start an embedded Runtime; leaving the `with` block drains and shuts it down.
        with Runtime(workers=2, state_dir=Path(tmp) / "state") as runtime:
            # 3. Submit a job: thumbnail, save as WebP, measure each result.
            spec = JobSpec(
                inputs=[inputs],
                pipeline=[ops.thumbnail(128), ops.save(format="webp", quality=80)],
                analyses=["channel_stats", "sharpness"],
                export_dir=Path(tmp) / "out",
                name="thumbnails",
            )
            handle = runtime.submit(spec, on_event=ProgressPrinter())

            # 4. Block until it ends, then report what a user wants to see.
            result = handle.wait(timeout=120)
            print("counts:", result.counts.as_dict())
            for path in result.export_files:
                print(f"{path.name:<14} {path}")
