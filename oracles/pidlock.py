"""A lock file that holds the pid of the process holding it: the daemon's lock on its folder and the mock
robot's lock on its database.

The lock is an OS lock (``flock``) on an open file, so the OS drops it when the process ends, even by kill -9:
a stale file never blocks a restart. The file is never opened through a link, since the pid is written into
it (a link to a user's notes would have had the notes replaced): a symbolic link, a hard link and a file
holding anything but a pid are refused, and left as they are. It lives in ``oracles/`` because the
orchestrator may import oracles, not the reverse.

Callers word their own messages from ``PidLockError.problem``: what a daemon and a robot should tell their
users differs.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

FOLDER = "folder"  # a folder by the lock's name
LINK = "link"  # a symbolic link by the lock's name
UNOPENABLE = "unopenable"  # no permission, a missing or unsearchable folder, ...
NOT_REGULAR = "not-regular"  # a pipe, a socket or a device by the lock's name
HARD_LINK = "hard-link"  # the file has other names too; ``detail`` says how many
FOREIGN = "foreign"  # it holds something other than a pid: not a lock file this code wrote
HELD = "held"  # another live process holds it; ``detail`` is its pid as written, or "unknown"
UNLOCKABLE = "unlockable"  # the file system has no locks (some network disks)


class PidLockError(Exception):
    def __init__(self, problem: str, path: Path, detail: str = ""):
        super().__init__(f"{path}: {problem} {detail}".rstrip())
        self.problem = problem
        self.path = path
        self.detail = detail


def take(path: Path) -> int:
    """Lock ``path`` (created if missing) for this process and write its pid there; returns the open fd, which
    holds the lock until ``release``. Raises PidLockError, with nothing left open."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise PidLockError(_why_unopenable(path), path, exc.strerror or type(exc).__name__) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PidLockError(NOT_REGULAR, path)
        if info.st_nlink > 1:  # a hard link to a store or a note: the pid would replace its content
            raise PidLockError(HARD_LINK, path, f"{info.st_nlink} names")
        held = os.pread(fd, 65, 0).strip()
        if len(held) > 64 or (held and not held.isdigit()):
            raise PidLockError(FOREIGN, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PidLockError(HELD, path, held.decode() or "unknown") from None
        except OSError as exc:
            raise PidLockError(UNLOCKABLE, path, exc.strerror or type(exc).__name__) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _why_unopenable(path: Path) -> str:
    try:
        if path.is_symlink():
            return LINK
        if path.is_dir():
            return FOLDER
    except OSError:  # the folder holding it cannot be searched
        pass
    return UNOPENABLE
