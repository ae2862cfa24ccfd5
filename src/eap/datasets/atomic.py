"""Atomic file writes: a reader never sees a half-written dataset.

Each writer writes into a temporary file in the target's folder, flushes it to
disk and renames it over the target. A rename within one file system is
atomic, so an interrupted write leaves either the old file or no file, never a
truncated one; the temporary file is removed on any failure.

A run that writes a folder of outputs (``eap derive``, ``eap report``) writes them into
a staged folder (:func:`staged_folder`) moved into place when the run succeeds: a run
that fails leaves no output folder, or the one of the previous run, never part of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and move the result to ``path`` only if it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file readable by its owner only; give it the usual
    # permissions (0666 less the umask), as open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder for a run's outputs, moved into ``out`` only if the run succeeds.

    The temporary folder is made beside ``out`` (in its nearest existing ancestor, so
    that the moves are renames). When the block ends without an exception each of its
    entries replaces the entry of the same name in ``out`` (created when needed); on an
    exception it is removed and ``out`` is left as it was: not created when it did not
    exist, never holding part of a run.
    """
    from eap.errors import DatasetWriteError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetWriteError("the output folder is a file", file=out, expected="a folder")
    anchor = out.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=anchor))
    except OSError as exc:
        raise DatasetWriteError(
            f"cannot write beside the output folder ({exc.strerror})", file=out
        ) from exc
    try:
        yield stage
        out.mkdir(parents=True, exist_ok=True)
        for entry in sorted(stage.iterdir()):
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    except OSError as exc:
        raise DatasetWriteError(
            f"cannot write the output folder ({exc.strerror})", file=out
        ) from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
