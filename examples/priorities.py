# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""An URGENT job submitted while a big LOW job runs is served first."""

import functools
import tempfile
import threading
import time
from pathlib import Path

from pixelmill import JobEvent, JobSpec, Priority, Runtime
from pixelmill.messages import ItemFinished, JobFinished
from pixelmill.testing import write_sample_set

BULK_ITEMS = 40

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="pixelmill-priorities-") as tmp:
        workdir = Path(tmp)
        # 1. Inputs: 40 images for the bulk job, 4 for the urgent one.
        write_sample_set(workdir / "bulk", count=BULK_ITEMS, seed=1)
        write_sample_set(workdir / "urgent", count=4, seed=2)

        def job(name: str, priority: Priority) -> JobSpec:
            return JobSpec(inputs=[workdir / name], export_dir=workdir / "out" / name,
                           analyses=["channel_stats", "sharpness"],
                           name=name, priority=priority)

        # 2. Record completions in order (`on_event` is called on one runtime thread).
        timeline: list[str] = []  # a letter per finished item: B for bulk, U for urgent
        finished: list[str] = []
        bulk_underway = threading.Event()
        started = time.monotonic()

        def record(event: JobEvent, *, name: str) -> None:
            if isinstance(event, ItemFinished):
                timeline.append(name[0].upper())
                if name == "bulk":
                    bulk_underway.set()
            elif isinstance(event, JobFinished):
                left = BULK_ITEMS - timeline.count("B")
                finished.append(f"{name:<6} {event.status} after {time.monotonic() - started:.1f} s"
                                f" (bulk items still to do: {left})")

        with Runtime(workers=2, state_dir=workdir / "state") as runtime:
            # 3. The big job, at LOW priority; wait until its first item is done.
            bulk = runtime.submit(job("bulk", Priority.LOW),
                                  on_event=functools.partial(record, name="bulk"))
            bulk_underway.wait(timeout=300)

            # 4. The URGENT job: the ResourceManager leases its items before the bulk's.
            urgent = runtime.submit(job("urgent", Priority.URGENT),
                                    on_event=functools.partial(record, name="urgent"))
            for handle in (urgent, bulk):
                handle.wait(timeout=300)

        # 5. The order of completions.
        print("items in the order they finished:", "".join(timeline))
        for rank, line in enumerate(finished, 1):
            print(f"{rank}. {line}")
