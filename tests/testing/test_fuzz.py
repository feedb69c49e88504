"""The fuzz job of CI: 2,000 mutated images of every format made here, run as one job."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pixelmill import JobSpec, JobStatus, Runtime, errors, ops
from pixelmill.imaging.pipeline import OutputTarget, Pipeline, run
from pixelmill.actors.recovery import RecoveryPolicy
from pixelmill.testing import write_sample_set
from pixelmill.testing.fuzz import fuzz_seeds, mutate, unexpected, write_fuzz_corpus

COUNT = 2_000
"""About 3 s on 2 idle cores (writing the files included); the drill, bench/fuzz.py,
runs as many as asked."""


def test_a_seed_corpus_decodes_and_mutations_follow_the_seed() -> None:
    import io
    import random

    from PIL import Image

    seeds = fuzz_seeds()
    assert len(seeds) >= 29
    for fmt, data in seeds.items():
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.format.upper().startswith(fmt[:3]), fmt
    first = mutate(seeds["PNG"], random.Random(4))
    assert first == mutate(seeds["PNG"], random.Random(4))
    assert first[0] != seeds["PNG"]


def test_every_mutated_file_is_accounted_for_and_the_runtime_goes_on(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    written = write_fuzz_corpus(inputs, COUNT, seed=14)
    # A decoder that hangs would end its item as worker.timeout, which fails this test.
    with Runtime(workers=2, item_timeout_s=30, journal=False,
                 recovery=RecoveryPolicy(systemic_window=0)) as runtime:
        spec = JobSpec(inputs=[str(inputs)], export_dir=tmp_path / "out",
                       pipeline=[ops.thumbnail(16), ops.save(format="png")],
                       analyses=["rgb_histogram", "channel_stats"])
        result = runtime.submit(spec).wait(timeout=240)
        good = write_sample_set(tmp_path / "good", 3, seed=3)
        after = runtime.submit(
            JobSpec(inputs=[str(p) for p in good], export_dir=tmp_path / "after")
        ).wait(timeout=60)
    assert result.status is JobStatus.COMPLETED
    items = json.loads((tmp_path / "out" / "summary.json").read_text())["items"]
    # Every file once: an item, or ignored with its reason (a signature the
    # mutation broke, in a file without an extension).
    assert len(items) + result.ignored.total == COUNT == len(written)
    assert set(result.ignored.by_reason()) <= {"not_an_image", "format_off"}
    assert result.counts.done > COUNT // 4
    assert unexpected(items) == []
    assert after.ok


# Found by `bench/fuzz.py --count 20000 --seed 7`: libheif and libavif fail on
# these with RuntimeErrors, which ended the items as internal.error.
_HEIC_PAST_LIBHEIFS_LIMIT = base64.b64decode(
    "AAAAHGZ0eXBoZWljAAAAAG1rZjFoZWljbWlhZgAAAXxtZXRhAAAAAAAAACFoZGxyAAAAAAAAIABwaWN0AAAA"
    "AAAAAAAAAAAAAAAAACJpbG9jAAAAAERAAAEAAQAAAAABoAABAAAAAAAAANYAAAAjaWluZgAAAAAAAQAAABVp"
    "bmZlAgAAAAABAABodmMxAAAAAA5waXRtAAAAAAABAAAA/GlwcnAAAADcaXBjbwAAAHVodmNDAQNwAAAAkAAA"
    "AAAAHvAA/P34+AAADwNgAAEAGEABDAH//wNwAAADAJAAAAMAAAMAHroCQGkAAQApQgEBAnAAAAMAkAAAAwAA"
    "AwAeoCCBBZbqrprm4CGgwIAAAAyAAAADAIRiAAEABkQBwXPBiQAAABNjb2xybmNseAABAA0ABoAAAAAUaXNw"
    "ZQAAAABAAABAAAABQAAAAChjbGFwAAAAGAAAAAEAAAAQAAAAAf///9gAAAAG////0AAAAAIAAAAQcGl4aQAA"
    "AAADCAgIAAAAGGlwbWEAAAAAAAAAAQABBYECAwWEAAAA3m1kYXQAAADSKAGvEyCIknC4lqnftKmXPS+lld2W"
    "mSctSBBI4Dt+2AYS3t+dheoUi6iyLJIw6cqeuLffN2oH/BvahxZnyi/IN0G9oMBCBdLzpmHzfQOnrEQ4/PqF"
    "dJ/tGefW9zBqJVKDK2RjiM0oSCHQXIHS6CVwyWYkMKNMTkv9vHEw+D3JMyA6uM6Lz59gX1LZpuZ1bbPyHQf0"
    "nlttBB0C82UUGOD/ATmHh1/BnNanTMQcp0L9P3mXFNcUh/4V+bFHoBK5WT+Q9VO1ropSaOriyyBIa9JB/3GA"
)
_AVIF_BAD_YUV = base64.b64decode(
    "AAAAIGZ0eXBhdmlmAAAAAGF2aWZtaWYxbWlhZk1BMUIAAADrbWV0YQAAAAAAAAAhaGRscgAAAAAAAAAAcGlj"
    "dAAAAAAAAAAAAAAAAAAAAAAOcGl0bQAAAAAAAQAAAB5pbG9jAAAAAEQAAAEAAQAAAAEAAAETAAAAzQAAAChp"
    "aW5mAAAAAAABAAAAGmluZmUCAAAAAAEAAGF2MDFDb2xvcgAAAABqaXBycAAAAEtpcGNvAAAAFGlzcGUAAAAA"
    "AAAAGAAAABAAAAAQcGl4aQAAAAADCAgIAAAADGF2MUOBAAwAAAAAE2NvbHJuY2x4AAEADQCGgAAAABdpcG1h"
    "AAAAAAAAAAEAAQQBAoMEAAAA1W1kYXQSAAoJGBDv7RAQ0GhAMr0BFMeHhmUCCCCeUAAACO6cN19Xijh7W1Cz"
    "vG55v7sX/hV2ttf6DkH1sCdC70hq0lxF5kjBaXySCQM7ra8MNvyvzmLweRDTEy8tr9Dg52tNixBcKvl5PU/i"
    "qwRq4A0UQHM/rfJTL/muzDQvW4uAfdTRgvF9eWPoZvi+dS4JdyTnJ/C3EO8a6P67k4p9voMO5Ws9GCyzOgE1"
    "ldZH1nQNVKP32sgRgUe1/c4f41AgVCPOGhmGhtUAFrfDK74MYYas"
)


@pytest.mark.parametrize(
    ("data", "suffix", "error"),
    [
        (_HEIC_PAST_LIBHEIFS_LIMIT, ".heic", errors.ImageTooLargeError),
        (_AVIF_BAD_YUV, ".avif", errors.TruncatedImageError),
    ],
    ids=["heic-too-large", "avif-bad-yuv"],
)
def test_a_decoders_runtime_error_on_the_data_is_an_input_error(
    data: bytes, suffix: str, error: type[errors.PixelmillError], tmp_path: Path
) -> None:
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(data)
    pipeline = Pipeline.validated(steps=[ops.thumbnail(16)])
    with pytest.raises(error):
        run(path, pipeline, OutputTarget(output_dir=None, stem="x"))
