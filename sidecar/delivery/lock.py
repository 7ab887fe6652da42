"""One delivery worker per SQLite outbox.

The embedded backend's recovery rule ("executing at restart goes back to retry") is only safe
when no other worker is mid-batch on the same file, so the worker holds an exclusive ``flock``
on ``<outbox>.worker.lock`` for its lifetime. The kernel drops the lock when the process dies,
SIGKILL included, so a restart never waits on a stale lock file.
"""

from __future__ import annotations

import fcntl
import os


class WorkerLockHeld(RuntimeError):
    pass


class WorkerLock:
    def __init__(self, outbox_path: str) -> None:
        self.path = f"{outbox_path}.worker.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise WorkerLockHeld(
                f"another delivery worker (pid {holder}) already serves this outbox; "
                f"lock file {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WorkerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
