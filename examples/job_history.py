# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill"]
# ///
"""Job history from the job store, and resuming a job that was cut short."""

import itertools
import tempfile
import threading
from pathlib import Path

from pixelmill import JobEvent, JobSpec, Runtime, ops
from pixelmill.messages import ItemFinished
from pixelmill.testing import write_sample_set

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="pixelmill-history-") as tmp:
        workdir = Path(tmp)
        # Other seeds, other pictures: no job here finds another's in the result cache.
        for seed, (name, count) in enumerate((("cats", 3), ("dogs", 4), ("archive", 24))):
            write_sample_set(workdir / name, count=count, seed=seed)

        def spec(name: str) -> JobSpec:
            return JobSpec(inputs=[workdir / name], export_dir=workdir / "out" / name,
                           pipeline=[ops.thumbnail(128), ops.save()], name=name)

        # 1. The store lives in `state_dir` (default: $PIXELMILL_STATE or the XDG data dir).
        # One item per lease (batch_items=1), so that a cancel finds items still queued.
        with Runtime(workers=2, state_dir=workdir / "state", batch_items=1) as runtime:
            # 2. Two small jobs, run to the end.
            for name in ("cats", "dogs"):
                runtime.submit(spec(name)).wait(timeout=300)

            # 3. A bigger job, cancelled once a few of its items are done.
            few_done, finished = threading.Event(), itertools.count(1)

            def watch(event: JobEvent) -> None:
                if isinstance(event, ItemFinished) and next(finished) == 4:
                    few_done.set()

            archive = runtime.submit(spec("archive"), on_event=watch)
            few_done.wait(timeout=300)
            archive.cancel()
            before = archive.wait(timeout=300)
            print("archive before resume:", before.status, before.counts.as_dict())

            # 4. The history, newest first.
            print(f"{'id':<12}  {'name':<8}  {'status':<10}  {'done/total':>10}  duration")
            for row in runtime.jobs():
                done = f"{row.counts['done']}/{row.counts['total']}"
                duration = f"{row.duration_s:.2f} s" if row.duration_s is not None else "-"
                print(f"{row.job_id:<12}  {row.name:<8}  {row.status:<10}  {done:>10}  {duration}")

            # 5. Resume it: what was done is kept, the cancelled items are run now. A job
            #    whose runtime stopped before it ended (a crash) is `interrupted`: the same.
            after = runtime.resume(archive.job_id).wait(timeout=300)
            print("archive after resume: ", after.status, after.counts.as_dict())
