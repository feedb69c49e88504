"""Process-wide settings for a process that runs the imaging pipeline: call once per worker.

Nothing here runs at import: importing `pixelmill` (as a host does before it
forks a process pool of its own) must not change how that host's Pillow
behaves. A worker calls `tune_process()` from its initializer.
"""

from __future__ import annotations

from PIL import Image

__all__ = ["DEFAULT_BLOCKS_MAX", "tune_process"]

DEFAULT_BLOCKS_MAX = 16
"""Freed Pillow memory blocks (16 MiB each) a process keeps for reuse.

Without a cache, every full-size decode maps fresh memory and the kernel
faults in and zeroes it page by page, then unmaps it when the image is freed.
With one, the blocks of the previous item's images are reused. 16 blocks
(at most 256 MiB kept, only as much as an item actually freed) cover a
5120x2880 RGBA decode and its premultiplied copy (8 blocks) with room to
spare; more blocks gained nothing measurable on the photo corpus.
"""


def tune_process(*, blocks_max: int = DEFAULT_BLOCKS_MAX) -> None:
    """Set this process's Pillow allocator up for batches of large images.

    Idempotent and cheap; call it in each worker process before its first
    item (a worker initializer). `blocks_max` is the number of freed 16 MiB
    blocks Pillow keeps for reuse (`Image.core.set_blocks_max`); they count
    against the process's address-space limit while cached, so keep
    `blocks_max * 16 MiB` well under it.
    """
    if type(blocks_max) is not int or blocks_max < 0:
        raise ValueError(f"blocks_max: expected a non-negative integer, got {blocks_max!r}")
    Image.core.set_blocks_max(blocks_max)  # type: ignore[attr-defined]
