"""Refuse a Runtime that every worker process would start again: the `__main__` guard."""

from __future__ import annotations

import ast
import functools
import inspect
import multiprocessing
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill.errors import ConfigError

if TYPE_CHECKING:
    from types import FrameType, ModuleType

__all__ = ["refuse_unguarded_main"]

_ADVICE = 'guard the code that starts the Runtime with `if __name__ == "__main__":`'


def refuse_unguarded_main(*, backend: str) -> None:
    """Raise `ConfigError` when the main script starts a Runtime at its top level.

    Worker processes start from a fork server, which runs the host's main
    script again (as `__mp_main__`, multiprocessing's `spawn.prepare`) before
    a worker's first task. A Runtime started by the script's top level would
    be started again in every worker, whose workers would do the same, and no
    job would end. Checked twice: in the host, from the line of the script
    that runs now (no `if` around it), so the host fails before any worker
    starts; and in a worker still importing the script, for the cases the
    first check cannot see (a Runtime started in a thread, say).

    Args:
        backend: the Runtime's; Ray's workers do not run the script again.

    Raises:
        ConfigError: the message names the script and says to guard it.
    """
    # `_inheriting` is set by `spawn._main` (spawn and fork server alike) only
    # while it imports the host's main script; it is gone once the worker runs.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        script = _script_of(sys.modules.get("__mp_main__")) or "the main script"
        raise ConfigError(
            f"a worker process imported {script} again and it started another "
            f"Runtime: worker processes re-run the script's top level, so {_ADVICE}"
        )
    line = None if backend == "ray" else _unguarded_main_line(inspect.currentframe())
    if line is not None:
        raise ConfigError(
            f"{line}: the Runtime is started at the script's top level, which every "
            f"worker process runs again when it starts; {_ADVICE}"
        )


def _script_of(module: ModuleType | None) -> str | None:
    path = getattr(module, "__file__", None)
    return str(path) if path else None


def _unguarded_main_line(frame: FrameType | None) -> str | None:
    """`script.py:LINE`: the main script's top-level line running now, if no `if` guards it."""
    main = sys.modules.get("__main__")
    if main is None or not _rerun_by_workers(main):
        return None
    # The script's module-level code, whether it starts the Runtime itself or
    # calls a function that does; a thread started by the script has no such frame.
    while frame is not None and not (
        frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"
    ):
        frame = frame.f_back
    if frame is None:
        return None
    path = frame.f_code.co_filename
    if _guarded(path, frame.f_lineno):
        return None
    return f"{path}:{frame.f_lineno}"


def _rerun_by_workers(main: ModuleType) -> bool:
    """Whether multiprocessing's `spawn.prepare` re-runs this main module in a worker."""
    # The same choices as `spawn.get_preparation_data` and `_fixup_main_from_*`.
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return name != "__main__" and not name.endswith(".__main__")
    path = getattr(main, "__file__", None)
    return path is not None and Path(path).stem != "ipython"


@functools.lru_cache(maxsize=8)
def _statements(path: str) -> list[ast.stmt] | None:
    try:
        return ast.parse(Path(path).read_bytes(), filename=path).body
    except (OSError, SyntaxError, ValueError):
        return None


def _guarded(path: str, line: int) -> bool:
    """True when `line` runs under a condition of the module, or its source is unknown.

    Any condition may keep workers out (`__name__`, the process name, ...),
    so only code that runs unconditionally counts as unguarded.
    """
    body = _statements(path)
    statement = _containing(body or [], line)
    if statement is None:
        return True  # no source, or it does not match the running code: don't guess
    while True:
        if isinstance(statement, ast.If | ast.Match):
            return True
        inner = _containing(_child_statements(statement), line)
        if inner is None:
            # The line is this statement's own (a simple statement, or a header
            # such as `with Runtime() as runtime:`): is there a condition in it?
            return any(
                isinstance(node, ast.IfExp | ast.BoolOp)
                for child in ast.iter_child_nodes(statement)
                if not isinstance(child, ast.stmt | ast.ExceptHandler)
                for node in ast.walk(child)
            )
        statement = inner


def _containing(statements: list[ast.stmt], line: int) -> ast.stmt | None:
    return next(
        (s for s in statements if s.lineno <= line <= (s.end_lineno or s.lineno)), None
    )


def _child_statements(statement: ast.stmt) -> list[ast.stmt]:
    children: list[ast.stmt] = []
    for child in ast.iter_child_nodes(statement):
        if isinstance(child, ast.ExceptHandler):
            children.extend(child.body)
        elif isinstance(child, ast.stmt):
            children.append(child)
    return children
