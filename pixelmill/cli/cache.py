"""`pixelmill cache stats` and `pixelmill cache clear`: the result cache in the job store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pixelmill.cli.jobs import open_store

if TYPE_CHECKING:
    import argparse

__all__ = ["cache_command"]


def cache_command(args: argparse.Namespace) -> int:
    """`pixelmill cache stats [--json] [--jobs N]` and `pixelmill cache clear`."""
    with open_store(args) as store:
        if args.action == "clear":
            removed = store.clear_cache()
            print(f"cleared {removed} cache entr{'y' if removed == 1 else 'ies'} from {store.path}")
            return 0
        stats = store.cache_stats(args.jobs)
    rate = stats.hit_rate
    if args.json:
        print(json.dumps({
            "entries": stats.entries,
            "bytes": stats.bytes,
            "hit_rate": rate,
            "jobs": [{"job_id": job_id, "name": name, "items": items, "cached": cached}
                     for job_id, name, items, cached in stats.recent],
        }))
        return 0
    print(f"entries   {stats.entries}")
    print(f"size      {stats.bytes / 1e6:.1f} MB in {store.path}")
    print(f"hit rate  {'-' if rate is None else f'{rate:.0%}'} "
          f"over the last {len(stats.recent)} finished job(s)")
    for job_id, name, items, cached in stats.recent:
        print(f"  {job_id}  {name}: {cached} of {items} item(s) from the cache")
    return 0
