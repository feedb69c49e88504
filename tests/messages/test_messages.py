"""Every message is frozen, slotted, keyword-only and survives pickling."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

import pixelmill.messages as messages
from pixelmill.messages import JobCounts, ReleaseLease

MESSAGE_CLASSES = [
    cls
    for name in messages.__all__
    if dataclasses.is_dataclass(cls := getattr(messages, name)) and isinstance(cls, type)
]


def test_there_are_messages_for_every_protocol() -> None:
    modules = {cls.__module__.rsplit(".", 1)[1] for cls in MESSAGE_CLASSES}
    assert modules == {"jobs", "work", "resources", "monitoring", "export", "supervision"}


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_each_message_is_frozen_slotted_and_keyword_only(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(field.kw_only for field in dataclasses.fields(cls))


def test_a_message_cannot_be_changed() -> None:
    message = ReleaseLease(lease_id="a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.lease_id = "b"  # type: ignore[misc]


def test_messages_survive_pickling_for_other_processes() -> None:
    counts = JobCounts(total=4, done=2, failed=1, skipped=1)
    assert pickle.loads(pickle.dumps(counts)) == counts
    assert counts.finished == 4


def test_a_job_order_makes_the_same_order_again_from_its_data() -> None:
    import json
    from pathlib import Path

    from pixelmill.imaging.pipeline import Pipeline
    from pixelmill.messages import JobOrder, Priority

    order = JobOrder(
        job_id="j1", name="thumbs", inputs=("in/", "more/*.png"),
        pipeline=Pipeline.validated(steps=[{"op": "thumbnail", "size": 64},
                                           {"op": "save", "format": "png"}],
                                    analyses=["luminance"], max_pixels=10**6),
        output_dir=Path("/out/images"), export_dir=Path("/out"), priority=Priority.HIGH,
        exclude_dirs=(Path("/out"),), charts=True, plugins=("my.ops",),
    )

    data = json.loads(json.dumps(order.to_data()))  # what the store keeps

    assert JobOrder.from_data(data, job_id="j1") == order
