"""A failing disk, as plugins and operators see it.

SQLite's errors become MongoDB's, so a plugin can tell a store that cannot write from its
own mistake: a full disk, a read-only file system or an unwritable file raise
``WriteError`` 14031 (``OutOfDiskSpace``, as MongoDB answers when its disk is full); a
file another process keeps locked past the busy timeout raises ``OperationFailure`` 24
(``LockTimeout``). The failing transaction is rolled back whole: nothing is half-written.
"""

from __future__ import annotations

import os
import sqlite3

from pymongo.errors import OperationFailure, WriteError

OUT_OF_DISK_SPACE = 14031
LOCK_TIMEOUT = 24
#: Milliseconds a write waits for a file another process has locked.
BUSY_TIMEOUT_MS = 10_000
#: Below this much free space, a store that hit a full disk is still called full.
ROOM_BYTES = 256 * 1024

DISK_FULL = "disk full"
READ_ONLY = "read-only"

_FULL = {sqlite3.SQLITE_FULL}
_UNWRITABLE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def fault_of(exc: BaseException) -> str | None:
    """``DISK_FULL`` or ``READ_ONLY`` when ``exc`` says the file cannot be written."""
    primary = _primary(exc)
    if primary in _FULL:
        return DISK_FULL
    if primary in _UNWRITABLE:
        return READ_ONLY
    return None


def translate(exc: BaseException) -> BaseException:
    """The PyMongo error a plugin sees for SQLite's ``exc`` (``exc`` itself for others)."""
    primary = _primary(exc)
    if primary in _FULL:
        return _out_of_space(f"the store's disk is full ({exc}); free space and retry")
    if primary in _UNWRITABLE:
        return _out_of_space(
            f"the store's file cannot be written ({exc}): a read-only file system or file"
        )
    if primary in _LOCKED:
        message = (
            f"the store's file stayed locked by another process for {BUSY_TIMEOUT_MS // 1000}"
            " s; retry later"
        )
        details = {"ok": 0, "errmsg": message, "code": LOCK_TIMEOUT, "codeName": "LockTimeout"}
        return OperationFailure(message, LOCK_TIMEOUT, details)
    return exc


def has_room(path: str) -> bool:
    """Whether the file system holding ``path`` has room for writes again."""
    try:
        stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize >= ROOM_BYTES


def _out_of_space(message: str) -> WriteError:
    details = {"errmsg": message, "code": OUT_OF_DISK_SPACE, "codeName": "OutOfDiskSpace"}
    return WriteError(message, OUT_OF_DISK_SPACE, details)


def _primary(exc: BaseException) -> int | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF
