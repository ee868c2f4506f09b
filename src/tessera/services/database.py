"""``core.config.database.db``: the calling app's database, resolved at each use.

Plugins import ``db`` once, at import time, before any caller exists. Each access looks up
the app of the call in progress, so one plugin module serves every app while each app keeps
its own database: apps never see each other's data.
"""

from __future__ import annotations

import re
from typing import Any

from tessera.context import current_call

SYSTEM_DATABASE = "_tessera"
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


class NotBound(RuntimeError):
    """``db`` was used where no Tessera runtime is running."""


def valid_app_id(app_id: str) -> bool:
    """App ids name databases: letters, digits, ``_`` and ``-``, not starting with ``_``."""
    return bool(_APP_ID.match(app_id))


class AppDatabase:
    """A stand-in for the current app's database with the PyMongo database interface."""

    def __init__(self) -> None:
        self._client: Any = None
        self._default_app: str = "default"
        self._prefix = ""

    def bind(self, client: Any, *, default_app: str, prefix: str = "") -> None:
        """Point ``db`` at a store client; called by the runtime at start."""
        self._client = client
        self._default_app = default_app
        self._prefix = prefix

    def unbind(self) -> None:
        self._client = None

    def database_name(self, app_id: str) -> str:
        """The store database holding ``app_id``'s data."""
        return self._prefix + app_id

    def current(self) -> Any:
        """The database of the app whose call is in progress (or the default app)."""
        if self._client is None:
            raise NotBound(
                "core.config.database.db was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        call = current_call.get()
        app_id = call.identity.app_id if call is not None else self._default_app
        return self._client[self.database_name(app_id)]

    def __getitem__(self, name: str) -> Any:
        return self.current()[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.current(), name)

    def __repr__(self) -> str:
        return "<core.config.database.db: the calling app's database>"


db = AppDatabase()
