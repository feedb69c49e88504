"""The `pixelmill` command: the console script, and `python -m pixelmill`.

This module imports almost nothing, so that the fork server can start before
the command line's own imports (see `console_main`).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from typing import TYPE_CHECKING

from pixelmill.workers import fork_server

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["console_main"]


def console_main() -> int:
    """Run the command line (`pixelmill.cli.main`) as `python -m pixelmill` runs it.

    multiprocessing starts each worker by importing the parent's `__main__`
    again, unless it is a package's `__main__` module; the console script is
    not one, so every worker would first import the whole command line (0.1 to
    0.2 s before its first item). Naming the script after this module makes
    workers start from the pipeline alone. For the commands that run local
    workers, the fork server is started first, so that it imports the
    pipeline while this process imports the rest.
    """
    script = sys.modules.get("__main__")
    if script is not None and getattr(script, "__spec__", None) is None:
        script.__spec__ = importlib.util.find_spec("pixelmill.__main__")
    if _runs_local_workers(sys.argv[1:]):
        fork_server.start()
    from pixelmill.cli import main  # after the fork server started

    return main()


def _runs_local_workers(argv: Sequence[str]) -> bool:
    if not argv or argv[0] not in ("run", "demo", "resume"):
        return False
    backends = [value for flag, value in itertools.pairwise(argv) if flag == "--backend"]
    return "--backend=ray" not in argv and backends[-1:] != ["ray"]


if __name__ == "__main__":
    raise SystemExit(console_main())
