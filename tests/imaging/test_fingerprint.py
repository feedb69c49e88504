"""The work fingerprint, the result cache's key for what is done to an input: a
host's own op is known by the version it declares, else by its function's code."""

from __future__ import annotations

from typing import Any

import pytest

from pixelmill.imaging import ops
from pixelmill.imaging.fingerprint import work_fingerprint
from pixelmill.imaging.pipeline import Pipeline
from pixelmill.imaging.steps import OpDef, register_op

pytestmark = pytest.mark.usefixtures("own_registry")


def _keep(image: Any, params: Any, ctx: Any) -> Any:
    return image


def _flip(image: Any, params: Any, ctx: Any) -> Any:
    return image.transpose(0)


def _fingerprint_with(definition: OpDef) -> str:
    register_op(definition, replace=True)
    return work_fingerprint(
        Pipeline.validated(steps=[{"op": definition.name}, ops.save(format="png")])
    )


def test_a_host_op_without_a_version_is_known_by_its_code() -> None:
    first = _fingerprint_with(OpDef(name="host_op", apply=_keep))

    assert _fingerprint_with(OpDef(name="host_op", apply=_keep)) == first
    assert _fingerprint_with(OpDef(name="host_op", apply=_flip)) != first


def test_a_declared_version_stands_for_the_code() -> None:
    first = _fingerprint_with(OpDef(name="host_op", apply=_keep, version="1"))

    assert _fingerprint_with(OpDef(name="host_op", apply=_flip, version="1")) == first
    assert _fingerprint_with(OpDef(name="host_op", apply=_keep, version="2")) != first
