"""A real writer SIGKILLed in the middle of `open_atomic`, as a crashed worker is."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_WRITE_THEN_DIE = (
    "import os, signal, sys; from pathlib import Path; "
    "from pixelmill.imaging.atomic import open_atomic\n"
    "with open_atomic(Path(sys.argv[1])) as stream:\n"
    "    stream.write(b'half'); stream.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
)


def killed_writers_file(final: Path) -> Path:
    """Start writing `final` in a new process that dies by SIGKILL before the rename;
    return the temporary file it leaves behind (`final`'s directory held no other)."""
    before = set(final.parent.iterdir())
    child = subprocess.run([sys.executable, "-c", _WRITE_THEN_DIE, str(final)], check=False)
    assert child.returncode == -signal.SIGKILL, child
    (left,) = set(final.parent.iterdir()) - before
    return left
