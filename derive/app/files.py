"""Writing files: the front ends' only way to put bytes on disk (a temporary file, then a rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from derive.core.errors import InputError


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename.

    A reader never sees half a file, and a failed write leaves the old file as it was.  The file
    gets the permissions a new file gets (0666 less the umask), as ``open`` would give it.
    Anything that stops the write (a folder that cannot be made or written, a folder where the
    file should be) is an :class:`InputError`: one line, exit 2.
    """
    path = Path(path)
    folder = writable_folder(path.parent)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise InputError(f"cannot write to {folder}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def writable_folder(folder: Path) -> Path:
    """``folder``, made if it does not exist; InputError when it cannot be (a file in the way, no permission)."""
    folder = Path(folder)
    if str(folder) == "":
        raise InputError("the output folder is an empty path")
    blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise InputError(f"cannot write to {folder}: {blocking} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot write to {folder}: {err.strerror or err}") from None
    return folder


def _umask() -> int:
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
