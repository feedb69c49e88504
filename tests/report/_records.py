"""Records and summaries of `results.jsonl` / `summary.json`, built in memory for the tests."""

from __future__ import annotations

from typing import Any

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"
"""A file name that is also a tag with a script in it."""


def histogram(peaks: tuple[int, int, int] = (40, 128, 220)) -> dict[str, list[int]]:
    """An `rgb_histogram` with one peak per channel at the given levels."""
    return {
        channel: [1000 if level == peak else 10 + level % 7 for level in range(256)]
        for channel, peak in zip("rgb", peaks, strict=True)
    }


def done_record(
    index: int,
    *,
    path: str | None = None,
    outputs: list[str] | None = None,
    luminance: float = 120.0,
    sharpness: float = 150.0,
    means: tuple[float, float, float] = (130.0, 110.0, 90.0),
    rgb: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """A full record of a done item, with every built-in analysis."""
    return {
        "index": index,
        "path": path if path is not None else f"inputs/photo_{index:04d}.jpg",
        "status": "done",
        "reason": None,
        "message": None,
        "attempts": 1,
        "duration_ms": 12.5,
        "outputs": outputs if outputs is not None else [],
        "width": 64,
        "height": 48,
        "source": {"format": "JPEG", "width": 640, "height": 480, "mode": "RGB"},
        "analyses": {
            "rgb_histogram": rgb if rgb is not None else histogram(),
            "channel_stats": {
                c: {"mean": m, "std": 10.0, "min": 0, "max": 255}
                for c, m in zip("rgb", means, strict=True)
            },
            "luminance": {"mean": luminance, "histogram": [1] * 256},
            "sharpness": {"laplacian_variance": sharpness},
            "metadata": {"format": "JPEG", "width": 640, "height": 480, "mode": "RGB"},
        },
    }


def problem_record(
    index: int,
    *,
    status: str = "failed",
    reason: str | None = "input.truncated",
    path: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """A full record of an item that failed, was skipped or was cancelled."""
    path = path if path is not None else f"inputs/broken_{index:04d}.jpg"
    return {
        "index": index,
        "path": path,
        "status": status,
        "reason": reason,
        "message": message if message is not None else f"{path}: image file is truncated",
        "attempts": 1,
        "duration_ms": 0.0,
        "outputs": [],
        "width": None,
        "height": None,
        "source": None,
        "analyses": {},
    }


def summary_of(records: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A `summary.json` head that counts `records`."""
    counts = {"total": len(records), "done": 0, "cached": 0, "failed": 0, "skipped": 0, "cancelled": 0}
    for record in records:
        counts[record["status"]] += 1
    return {
        "job_id": "0123456789ab",
        "name": "nightly-thumbnails",
        "status": "completed",
        "reason": None,
        "message": None,
        "started_at": "2026-11-28T17:18:25Z",
        "finished_at": "2026-11-28T17:18:35Z",
        "duration_s": 10.0,
        "counts": counts,
    } | overrides
