"""The data folder, private to the server's user: the folder 0700, what is in it 0600.

It holds every app's data and every password hash (``store.db``) and the key that signs
tokens (``token_secret``), so no other user of the machine may read it.

The umask is left alone: it is the whole process's, so changing it would change the mode
of every file plugins and libraries create, and it can only take permissions away. Instead
each thing Tessera makes here is created private (the umask can only make it more so) and
then set to exactly its mode, since a strict umask (0277, say) would leave it unwritable.
SQLite needs no umask either: it gives its ``-wal``, ``-shm`` and ``-journal`` files the
mode of the database file, so creating ``store.db`` 0600 before SQLite opens it makes
them 0600 too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from tessera.settings import Settings

logger = logging.getLogger("tessera.data")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # group and other permissions: none are wanted here


def prepare_data_folder(settings: Settings) -> None:
    """Make the data folder and what is in it private, before any store opens.

    Each embedded store file that does not exist yet is created empty (an empty file is an
    empty SQLite database) with mode 0600, so that SQLite's own files beside it are 0600
    too, wherever it lives.
    """
    private_data_folder(Path(settings.data))
    for uri in store_uris(settings):
        path = embedded_store_path(uri)
        if path is not None:
            create_private_file(path)


def private_data_folder(folder: Path) -> None:
    """Create ``folder`` private, or make an existing one and what is in it private;
    whatever was looser is tightened, with one warning."""
    _report(folder, _make_folder(folder) + _tighten_entries(folder))


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) with mode 0700, or take group and other
    permissions away from an existing one; not what is in it."""
    _report(folder, _make_folder(folder))


def _make_folder(folder: Path) -> list[str]:
    """Returns what was tightened, for the log."""
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True)
    except FileExistsError:
        return _tighten(folder, "the folder")
    os.chmod(folder, FOLDER_MODE)  # exactly: the umask may have taken the owner's bits
    return []


def _report(folder: Path, tightened: list[str]) -> None:
    if tightened:
        logger.warning(
            "Data folder %s was open to other users; removed their access to %s.",
            folder,
            ", ".join(tightened),
        )


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 unless it exists (or its folder does not)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return  # there already; or no folder, which the store will report as it opens
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def store_uris(settings: Settings) -> list[str]:
    uris = [settings.store]
    # Local accounts may live in a store of their own; only local mode opens it.
    accounts = getattr(settings, "accounts_store", None)
    if settings.auth_mode == "local" and isinstance(accounts, str):
        uris.append(accounts)
    return uris


def embedded_store_path(uri: str) -> Path | None:
    """The file of an embedded store URI (as ``tessera.store.open_client`` reads them);
    None for MongoDB, the in-memory store or a URI it would refuse."""
    if uri.startswith("sqlite://"):
        path = uri[len("sqlite://") :]
        return Path(path) if path.startswith("/") else None
    return None if "://" in uri else Path(uri)


def _tighten_entries(folder: Path) -> list[str]:
    """Take group and other permissions from each file and folder directly in ``folder``.

    Not deeper, and never through a symbolic link: Tessera writes only at the top, and a
    link may point anywhere.
    """
    tightened = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
            tightened += _tighten(Path(entry.path), entry.name)
    return tightened


def _tighten(path: Path, name: str) -> list[str]:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if not mode & _OTHERS:
            return []
        os.chmod(path, mode & ~_OTHERS)
    except OSError as exc:  # not ours, say: say so, and leave it to the operator
        logger.warning("Cannot make %s private to this user: %s.", path, exc.strerror)
        return []
    return [f"{name} (was {mode:04o})"]
