"""What identifies an input's bytes and a pipeline's work: the keys of the result cache.

Pure functions over files and pipelines; the cache itself lives in the job store.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import marshal
from typing import TYPE_CHECKING, Any, BinaryIO

import PIL

from pixelmill.imaging._output_paths import output_path
from pixelmill.imaging._regular_file import open_regular_file
from pixelmill.imaging.save import SAVE_FORMATS
from pixelmill.imaging.steps import analysis_def, op_def

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pixelmill.imaging._output_paths import OutputTarget
    from pixelmill.imaging.pipeline import Pipeline

__all__ = ["content_hash", "digest_of", "expected_outputs", "work_fingerprint"]

_DIGEST_SIZE = 16
"""128 bits: a collision among a billion files is some 1e-21 likely."""


def content_hash(path: Path) -> bytes:
    """BLAKE2b of the file's bytes (a regular file only: never a FIFO or device).

    Raises:
        NotAFileError: a directory, FIFO, socket or device.
        OSError: it cannot be read.
    """
    with open_regular_file(path) as fp:
        return digest_of(fp)


def digest_of(fp: BinaryIO) -> bytes:
    """`content_hash` of an open file, read from where it stands to its end."""
    # What os.fdopen(fd, "rb") returns is a BufferedReader, which file_digest reads
    # into its own buffer; typed BinaryIO, it lacks readinto.
    return hashlib.file_digest(fp, _blake2b).digest()  # type: ignore[arg-type]


def _blake2b() -> Any:
    return hashlib.blake2b(digest_size=_DIGEST_SIZE)


def work_fingerprint(pipeline: Pipeline) -> str:
    """What the work on one input depends on, besides its bytes, as a short hex key.

    Every step's and analysis's name and parameters (the output format and
    quality among them), the pixel limit, the versions of pixelmill and
    Pillow, and for a host's own op or analysis the `version` it declares,
    else a hash of its function's code: changing your op invalidates its
    entries.
    """
    parts = {
        "pixelmill": _pixelmill_version(),
        "pillow": PIL.__version__,
        "pipeline": pipeline.to_data(),
        "ops": [_code_version(op_def(step.name).version, op_def(step.name).apply)
                for step in pipeline.steps],
        "analyses": [
            _code_version(analysis_def(step.name).version, analysis_def(step.name).measure)
            for step in pipeline.analyses
        ],
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=_DIGEST_SIZE).hexdigest()


def expected_outputs(pipeline: Pipeline, target: OutputTarget) -> list[Path]:
    """The files the pipeline's `save` steps write for `target`, in order.

    Raises:
        ConfigError: a save step without an output directory.
        OutputConflictError: a name that would leave the output directory.
    """
    return [
        output_path(target, template=step.params["template"],
                    ext=SAVE_FORMATS[step.params["format"]][1])
        for step in pipeline.steps if step.name == "save"
    ]


def _code_version(declared: str | None, function: Callable[..., Any]) -> str | None:
    if declared is not None:
        return declared
    if (getattr(function, "__module__", "") or "").startswith("pixelmill."):
        return None  # pixelmill's own: its version covers it
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)
    return hashlib.blake2b(marshal.dumps(code), digest_size=8).hexdigest()


@functools.cache
def _pixelmill_version() -> str:
    try:
        return importlib.metadata.version("pixelmill")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
