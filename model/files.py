"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from model.errors import ChipAuditError

# Read once at import (os.umask can only be read by setting it, which races with other threads).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def target_mode(path: str | os.PathLike[str]) -> int:
    """Permissions for a file replacing `path`: its current ones, else a new file's usual ones.

    mkstemp makes temp files 0600; renamed over a user's file they would silently make it private.
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_UMASK


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Temp file in the same folder, fsync, rename over the target, fsync the folder."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ChipAuditError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, target_mode(path))
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ChipAuditError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform; the rename is already durable enough there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
