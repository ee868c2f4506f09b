"""``core.config.database.db``: the calling app's database, resolved at each use.

Plugins import ``db`` once, at import time, before any caller exists, and often keep
``notes = db["notes"]`` as a module global. Each operation looks up the call in progress:
its app picks the database (apps never see each other's data) and its caller scopes every
collection (see :mod:`tessera.isolation`), so a plugin reads and writes only its caller's
documents unless its manifest shares a collection or it escalates. Outside a plugin call
(runtime internals, tests) ``db`` is the plain app database; while a plugin is being
imported it refuses every database access.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from tessera.context import CallContext, callerless_plugin, current_call
from tessera.isolation.database import CLOSED_ATTRIBUTES, ScopedDatabase
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.policy import MODES, Policy, manifest_names, may_escalate
from tessera.plugins.manifest import Manifest

SYSTEM_DATABASE = "_tessera"
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")

logger = logging.getLogger("tessera.isolation")

ManifestOf = Callable[[str], Manifest | None]
Resolve = Callable[[], Any]
# Database attributes that are not collections: ``db.<name>`` resolves them at once.
_DATABASE_ATTRIBUTES = CLOSED_ATTRIBUTES | {
    name for name in dir(ScopedDatabase) if not name.startswith("_")
}


class NotBound(RuntimeError):
    """``db`` was used where no Tessera runtime is running."""


def valid_app_id(app_id: str) -> bool:
    """App ids name databases: letters, digits, ``_`` and ``-``, not starting with ``_``."""
    return bool(_APP_ID.match(app_id))


def _no_manifest(name: str) -> Manifest | None:
    return None


class AppDatabase:
    """A stand-in for the current app's database with the PyMongo database interface."""

    # Slots with private names: plugins get no __dict__ and no _client to walk to.
    __slots__ = ("__client", "__default_app", "__indexes", "__manifest_of", "__mode", "__prefix")

    def __init__(self) -> None:
        self.__client: Any = None
        self.__default_app = "default"
        self.__prefix = ""
        self.__mode = "enforce"
        self.__manifest_of: ManifestOf = _no_manifest
        self.__indexes = UserIndexes()

    def bind(
        self,
        client: Any,
        *,
        default_app: str,
        prefix: str = "",
        isolation: str = "enforce",
        manifest_of: ManifestOf | None = None,
    ) -> None:
        """Point ``db`` at a store client; called by the runtime at start.

        ``isolation`` is the mode (enforce, audit, off); ``manifest_of(plugin)`` gives a
        plugin's manifest, for its shared collections and escalation roles.
        """
        _refuse_in_call("bind")
        if isolation not in MODES:
            raise ValueError(f"isolation must be one of {', '.join(MODES)}, got {isolation!r}")
        self.__client = client
        self.__default_app = default_app
        self.__prefix = prefix
        self.__mode = isolation
        self.__manifest_of = manifest_of or _no_manifest
        self.__indexes = UserIndexes()

    def unbind(self, client: Any = None) -> None:
        """Forget the store client; given ``client``, only if it is still the bound one (a
        runtime stopping late must not unbind a newer one)."""
        _refuse_in_call("unbind")
        if client is None or client is self.__client:
            self.__client = None

    def database_name(self, app_id: str) -> str:
        """The store database holding ``app_id``'s data."""
        return self.__prefix + app_id

    def current(self) -> Any:
        """The database of the call in progress, scoped to its caller; outside a call, the
        default app's database."""
        call = current_call.get()
        database = self.__database(call)
        if call is None or self.__mode == "off":
            return database
        return ScopedDatabase(database, self.__policy(call), self.__indexes)

    def as_admin(self, *, reason: str) -> DatabaseRef:
        """The app database for cross-user work (an admin listing, a system job).

        Allowed to superadmins and to roles the plugin's manifest lists in
        ``escalation_roles``, checked now and again at each use; every operation is logged
        with the caller, plugin and reason. It still holds only this app's collections.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("db.as_admin() needs a reason, e.g. db.as_admin(reason='export')")
        self.__escalated(reason)  # refuse now rather than at the first operation
        call = current_call.get()
        if call is not None:
            logger.info(
                "isolation escalation granted (plugin=%s user=%s reason=%r)",
                call.plugin,
                call.identity.user_id,
                reason,
            )
        return DatabaseRef(lambda: self.__escalated(reason))

    def __escalated(self, reason: str) -> Any:
        call = current_call.get()
        database = self.__database(call)
        if call is None or self.__mode == "off":
            return database
        policy = self.__policy(call)
        if not self.__may_escalate(call):
            policy.violation("db.as_admin()", _escalation_problem(self.__roles(call)))
        escalated = dataclasses.replace(policy, escalation=reason)
        return ScopedDatabase(database, escalated, self.__indexes)

    def check_recipient(self, user_id: str, operation: str) -> None:
        """For ``send_to_user`` and ``create_notification``: a message aimed at a user other
        than the caller needs the escalation right (superadmin or a role the manifest's
        ``escalation_roles`` names) and is logged; otherwise it is refused (or, in audit
        mode, logged). Outside a plugin call every recipient is allowed."""
        call = current_call.get()
        if call is None or self.__mode == "off" or user_id == call.identity.user_id:
            return
        policy = self.__policy(call)
        label = f"{operation}(user_id={user_id!r})"
        if self.__may_escalate(call):
            logger.info(
                "isolation escalation (plugin=%s user=%s) %s",
                call.plugin,
                call.identity.user_id,
                label,
            )
            return
        policy.violation(label, _escalation_problem(self.__roles(call)))

    def __may_escalate(self, call: CallContext) -> bool:
        identity = call.identity
        return may_escalate(identity.roles, identity.is_superadmin, self.__roles(call))

    def __roles(self, call: CallContext) -> frozenset[str]:
        return manifest_names(self.__extra(call.plugin), "escalation_roles")

    def __database(self, call: CallContext | None) -> Any:
        if self.__client is None:
            raise NotBound(
                "core.config.database.db was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        callerless = callerless_plugin.get()
        if call is None and callerless is not None:
            raise NotBound(
                f"plugin {callerless!r} used the database with no caller (while being "
                "imported, or in a handler of an event published outside any call); "
                "database operations need a caller: run them inside execute() or in handlers "
                "of events your plugins publish (a module-level db['name'] is fine, it is "
                "resolved at each call)"
            )
        app_id = call.identity.app_id if call is not None else self.__default_app
        return self.__client[self.database_name(app_id)]

    def __policy(self, call: CallContext) -> Policy:
        shared = manifest_names(self.__extra(call.plugin), "shared_collections")
        return Policy(self.__mode, call.identity.user_id, call.plugin, shared)

    def __extra(self, plugin: str) -> dict[str, Any]:
        manifest = self.__manifest_of(plugin)
        return manifest.extra if manifest is not None else {}

    def __getitem__(self, name: str) -> CollectionRef:
        return CollectionRef(self.current, name)

    def __getattr__(self, name: str) -> Any:
        return _database_attribute(self.current, name)

    def get_collection(self, name: str) -> CollectionRef:
        """The collection called ``name``, resolved at each use like ``db[name]``."""
        return CollectionRef(self.current, name)

    def __repr__(self) -> str:
        return "<core.config.database.db: the calling app's database>"


class DatabaseRef:
    """A database resolved at each use: what ``db.as_admin()`` returns."""

    __slots__ = ("__resolve",)

    def __init__(self, resolve: Resolve) -> None:
        self.__resolve = resolve

    def __getitem__(self, name: str) -> CollectionRef:
        return CollectionRef(self.__resolve, name)

    def __getattr__(self, name: str) -> Any:
        return _database_attribute(self.__resolve, name)

    def get_collection(self, name: str) -> CollectionRef:
        """The collection called ``name``."""
        return CollectionRef(self.__resolve, name)

    def __repr__(self) -> str:
        return "<core.config.database.db.as_admin(): the calling app's database>"


class CollectionRef:
    """``db[name]``: the collection ``name`` of the app and caller using it.

    A plugin may keep one in a module global: each operation resolves it again, so it always
    reaches the database of the call in progress, scoped to that call's caller.
    """

    __slots__ = ("__name", "__resolve")

    def __init__(self, resolve: Resolve, name: str) -> None:
        self.__resolve = resolve
        self.__name = name

    @property
    def name(self) -> str:
        return self.__name

    def __getitem__(self, name: str) -> CollectionRef:
        return CollectionRef(self.__resolve, f"{self.__name}.{name}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.__resolve()[self.__name], name)

    def __repr__(self) -> str:
        return f"<core.config.database.db[{self.__name!r}]>"


def _database_attribute(resolve: Resolve, name: str) -> Any:
    # PyMongo answers an unknown attribute with the collection of that name (``db.notes``).
    if name.startswith("_"):
        raise AttributeError(name)
    if name in _DATABASE_ATTRIBUTES:
        return getattr(resolve(), name)
    return CollectionRef(resolve, name)


def _escalation_problem(roles: frozenset[str]) -> str:
    allowed = ", ".join(sorted(roles)) or "none declared"
    return (
        "escalation needs a superadmin caller or one of the roles in the manifest's "
        f"escalation_roles ({allowed})"
    )


def _refuse_in_call(method: str) -> None:
    if current_call.get() is not None:
        raise RuntimeError(f"db.{method}() belongs to the runtime, not to plugins")


db = AppDatabase()
