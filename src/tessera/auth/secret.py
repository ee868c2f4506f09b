"""The local token secret: generated once, kept in the data folder, so tokens survive
restarts (the reference drew a new random secret on every start)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from tessera.auth.errors import SecretFileError
from tessera.datafolder import private_folder

logger = logging.getLogger("tessera.auth")

SECRET_FILENAME = "token_secret"
MIN_SECRET_BYTES = 32
_GENERATED_BYTES = 64


def load_or_create_secret(data_dir: Path) -> bytes:
    """The secret in ``data_dir/token_secret``, created (mode 0600) if absent.

    The file's content, stripped of surrounding whitespace, is the key, so an operator
    may also write their own (at least 32 bytes) before the first start.

    Creation is atomic: the secret is written to a private temporary file and linked
    into place, so a concurrent start never sees a partial file and two processes
    starting together end up with the same secret.
    """
    private_folder(data_dir)  # the server makes what is inside private as it starts
    path = data_dir / SECRET_FILENAME
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(_GENERATED_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        # If another process linked its file first, its secret wins and this one is dropped.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise SecretFileError(f"Cannot read the token secret {path}: {exc.strerror}.") from None
    if mode & 0o077:
        logger.warning(
            "The token secret %s is readable by other users (mode %o); run chmod 600 on it.",
            path,
            mode,
        )
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(
            f"The token secret {path} holds {len(secret)} bytes; at least "
            f"{MIN_SECRET_BYTES} are required. Delete the file to have a new one generated "
            "(tokens issued with the old secret stop working)."
        )
    return secret
