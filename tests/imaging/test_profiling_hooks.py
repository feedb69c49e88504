"""Profiling and tuning hooks: stage times of a run, Pillow's block cache, shared measurements."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pixelmill.imaging import ops
from pixelmill.imaging._stages import recording, stage_clock
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run
from pixelmill.imaging.steps import ItemContext
from pixelmill.imaging.tuning import tune_process
from pixelmill.testing.images import write_photo_like

PIPELINE = Pipeline.validated(
    steps=[ops.thumbnail(64), ops.save(format="jpeg")],
    analyses=["rgb_histogram", "channel_stats"],
)


def test_a_run_records_its_stages_only_while_recording(tmp_path: Path) -> None:
    path = write_photo_like(tmp_path / "in.jpg", (320, 240))
    target = OutputTarget(output_dir=tmp_path, stem="out")
    with recording() as times:
        run(path, PIPELINE, target)
    assert set(times) == {
        "open",
        "integrity",
        "decode",
        "exif",
        "orient/convert",
        "op:thumbnail",
        "op:save",
        "save:prepare",
        "save:encode",
        "analysis:rgb_histogram",
        "analysis:channel_stats",
    }
    assert all(seconds >= 0 for seconds in times.values())
    run(path, PIPELINE, target)
    assert len(times) == 11  # nothing added outside the block


def test_a_clock_charges_each_lap_to_its_stage() -> None:
    ticks = iter([0.0, 1.0, 3.0, 6.0])
    with recording(lambda: next(ticks)) as times:
        clock = stage_clock()
        clock.lap("a")
        clock.lap("b")
        clock.lap("a")
    assert times == {"a": 4.0, "b": 2.0}
    stage_clock().lap("ignored")  # not recording: a no-op
    assert times == {"a": 4.0, "b": 2.0}


def test_recording_with_the_thread_cpu_clock(tmp_path: Path) -> None:
    path = write_photo_like(tmp_path / "in.png", (320, 240), fmt="PNG")
    with recording(time.thread_time) as times:
        run(path, PIPELINE, OutputTarget(output_dir=tmp_path, stem="out"))
    assert times["decode"] > 0


def test_tune_process_keeps_freed_memory_for_reuse() -> None:
    # In a child: the allocator settings last for the life of the process.
    script = """if True:
        import json
        from PIL import Image
        from pixelmill.imaging.tuning import tune_process
        first = tune_process()
        second = tune_process(keep_freed_mb=256, blocks_max=3)
        print(json.dumps([first, second, Image.core.get_blocks_max()]))
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, second, blocks_max = json.loads(done.stdout)
    expected = "mmap_threshold=32MiB trim_threshold=128MiB"
    assert first == {"malloc": expected} or first["malloc"].startswith("skipped")
    assert second["malloc"] == expected.replace("128", "256") or second["malloc"] == first["malloc"]
    assert second["pillow_blocks_max"] == blocks_max == 3


@pytest.mark.parametrize(
    "wrong", [{"blocks_max": -1}, {"keep_freed_mb": 2.0}, {"keep_freed_mb": True}]
)
def test_tune_process_refuses_bad_settings_before_changing_anything(
    wrong: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match="expected a non-negative integer"):
        tune_process(**wrong)  # type: ignore[arg-type]


def test_analyses_share_one_histogram_per_image(ctx: ItemContext) -> None:
    calls: list[Image.Image] = []

    def histograms(image: Image.Image) -> list[int]:
        calls.append(image)
        return image.histogram()

    first, second = Image.new("RGB", (4, 4), (1, 2, 3)), Image.new("RGB", (4, 4), (1, 2, 3))
    assert ctx.derived("h", first, histograms) is ctx.derived("h", first, histograms)
    ctx.derived("h", second, histograms)  # an equal image, but another object
    assert calls == [first, second]
