"""The public surface cannot change by accident (httpx's test_exported_members)."""

from __future__ import annotations

import pixelmill


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {
        name
        for name in vars(pixelmill)
        if not name.startswith("_")
        and name not in {"errors", "imaging", "runtime", "actors", "report", "store", "testing", "testing_images", "testing_hostile"}
    }
    assert sorted(pixelmill.__all__) == pixelmill.__all__
    assert set(pixelmill.__all__) == public


def test_every_public_name_has_a_docstring() -> None:
    for name in pixelmill.__all__:
        assert getattr(pixelmill, name).__doc__, name


def test_importing_pixelmill_configures_no_logging() -> None:
    import logging

    import structlog

    assert not structlog.is_configured()
    assert logging.getLogger().handlers == [] or all(
        "pytest" in type(h).__module__ or "_pytest" in type(h).__module__
        for h in logging.getLogger().handlers
    )
