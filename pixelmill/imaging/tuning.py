"""Process-wide settings for a process that runs the imaging pipeline: call once per worker.

Nothing here runs at import: importing `pixelmill` (as a host does before it
forks a process pool of its own) must not change how that host allocates.
A worker calls `tune_process()` from its initializer.

Why: an item allocates tens of MiB of pixels (a 5120x2880 RGBA decode is
59 MiB, in Pillow blocks of up to 16 MiB) and frees them at the end. glibc
serves such blocks with `mmap` and gives them back with `munmap`, so the next
item's pixels are faulted in and zeroed by the kernel page by page again: on
the photo corpus, ~120,000 page faults and ~0.23 s of kernel time per pass of
its 24 images. Keeping freed memory in the heap for reuse takes that to
~12,500 faults and ~0.05 s, 10-12 % less CPU per item, without raising the
peak RSS (it is reached during an item anyway). Pillow's own block cache
(`Image.core.set_blocks_max`) gets 2-7 % at +70-110 MiB of peak RSS and adds
nothing measurable on top of this; it stays available as an option.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from PIL import Image

__all__ = ["DEFAULT_KEEP_FREED_MB", "MMAP_THRESHOLD", "tune_process"]

MMAP_THRESHOLD = 32 << 20
"""Allocations from this size up get their own mapping: glibc's largest
allowed value, above Pillow's 16 MiB blocks, so image memory comes from the heap."""
DEFAULT_KEEP_FREED_MB = 128
"""Free memory at the top of the heap that glibc keeps for reuse rather than
returning to the OS (`M_TRIM_THRESHOLD`): what an idle worker may hold beyond
its live data. 128 MiB did as well as 256 or 512 on the photo corpus; 64 MiB
gave up half the gain."""
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_process(
    *, keep_freed_mb: int = DEFAULT_KEEP_FREED_MB, blocks_max: int | None = None
) -> dict[str, Any]:
    """Set this process's allocators up for batches of large images; returns what was set.

    Call it once in each worker process before its first item (a worker
    initializer); calling it again is harmless. It does nothing to memory
    already allocated.

    - glibc malloc (Linux with glibc only; elsewhere skipped): blocks below
      `MMAP_THRESHOLD` come from the heap, and up to `keep_freed_mb` MiB of
      freed memory stays there for the next item instead of being unmapped.
    - `blocks_max`, when given: the freed 16 MiB blocks Pillow keeps in its own
      cache (`Image.core.set_blocks_max`); they count against the process's
      address-space limit while cached. None leaves Pillow's setting alone.

    Raises:
        ValueError: a negative or non-integer setting.
    """
    for name, value in (("keep_freed_mb", keep_freed_mb), ("blocks_max", blocks_max)):
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    applied: dict[str, Any] = {"malloc": _tune_glibc_malloc(keep_freed_mb << 20)}
    if blocks_max is not None:
        Image.core.set_blocks_max(blocks_max)  # type: ignore[attr-defined]
        applied["pillow_blocks_max"] = blocks_max
    return applied


def _tune_glibc_malloc(trim_threshold: int) -> str:
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    if not libc.startswith("glibc"):
        return "skipped: not glibc"
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return "skipped: no mallopt"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Setting either turns off glibc's own adjustment of both; mallopt returns 1 on success.
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    if not ok:
        return "refused by mallopt"
    return f"mmap_threshold={MMAP_THRESHOLD >> 20}MiB trim_threshold={trim_threshold >> 20}MiB"
