"""Writing files: the front ends' only way to put bytes on disk (a temporary file, then a rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def folder_atomic(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; on success it replaces ``path``, on failure it is removed.

    For stores that are folders (a Zarr group): a reader never sees half of one, and a failed
    write leaves the old one as it was.  An existing ``path`` that is a file is refused
    (InputError); an existing folder is moved aside, the new one renamed in, the old one deleted.
    """
    path = Path(path)
    parent = writable_folder(path.parent)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write {path}: it is a file, not a folder")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as err:
        raise InputError(f"cannot write to {parent}: {err.strerror or err}") from None
    try:
        yield tmp
        _replace_folder(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_folder(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an old ``path`` is renamed aside first and deleted after."""
    old = path.with_name(f".{path.name}.{os.getpid()}.old") if path.exists() else None
    if old is not None:
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
