"""``core.config.database.db``: the calling app's database, resolved at each use.

Plugins import ``db`` once, at import time, before any caller exists, and often keep
``notes = db["notes"]`` as a module global. Each operation looks up the call in progress:
its app picks the database (apps never see each other's data) and its caller scopes every
collection (see :mod:`tessera.isolation`), so a plugin reads and writes only its caller's
documents unless its manifest shares a collection or it escalates.

``db`` holds nothing: the store client, the isolation mode and the manifests belong to
the runtime's :class:`Databases`, which ``db`` finds at each use, so no attribute of
``db`` leads to them. With no call in progress (while a plugin is imported, in a thread
the plugin started, in a handler of an event published outside any call) ``db`` refuses
every operation: there is no caller to scope it to. The runtime and tests reach an app's
database through :meth:`Databases.app`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from tessera.context import CallContext, NotBound, current_call, no_caller
from tessera.isolation.database import CLOSED_ATTRIBUTES, ScopedDatabase
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.modes import CollectionModes
from tessera.isolation.policy import (
    MODES,
    Policy,
    logged,
    manifest_names,
    may_escalate,
    unlisted,
)
from tessera.plugins.manifest import Manifest

SYSTEM_DATABASE = "_tessera"
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")

logger = logging.getLogger("tessera.isolation")

ManifestOf = Callable[[str], Manifest | None]
MayEscalate = Callable[[str], bool]
Resolve = Callable[[], Any]
# Database attributes that are not collections: ``db.<name>`` resolves them at once.
_DATABASE_ATTRIBUTES = CLOSED_ATTRIBUTES | {
    name for name in dir(ScopedDatabase) if not name.startswith("_")
}


def valid_app_id(app_id: str) -> bool:
    """App ids name databases: letters, digits, ``_`` and ``-``, not starting with ``_``."""
    return bool(_APP_ID.match(app_id))


def _no_manifest(name: str) -> Manifest | None:
    return None


def _every_plugin(name: str) -> bool:
    return True


class Databases:
    """The runtime's side of ``db``: which store database holds each app, how isolation
    is enforced, and what each plugin's manifest shares.

    :param client: the store client.
    :param isolation: the mode (enforce, audit, off).
    :param manifest_of: a plugin's manifest, for its shared collections and escalation roles.
    :param may_escalate: whether a plugin may escalate at all (a sandboxed plugin only when
        the operator lists it); its manifest's roles then say for which callers.
    :param modes: how each collection was first used (see :mod:`tessera.isolation.modes`).
    """

    def __init__(
        self,
        client: Any,
        *,
        default_app: str,
        prefix: str = "",
        isolation: str = "enforce",
        manifest_of: ManifestOf | None = None,
        may_escalate: MayEscalate | None = None,
        modes: CollectionModes | None = None,
    ) -> None:
        if isolation not in MODES:
            raise ValueError(f"isolation must be one of {', '.join(MODES)}, got {isolation!r}")
        self.client = client
        self.default_app = default_app
        self.prefix = prefix
        self.mode = isolation
        self.manifest_of = manifest_of or _no_manifest
        self.plugin_may_escalate = may_escalate or _every_plugin
        self.indexes = UserIndexes()
        self.modes = modes or CollectionModes()

    def database_name(self, app_id: str) -> str:
        """The store database holding ``app_id``'s data."""
        return self.prefix + app_id

    def app(self, app_id: str | None = None) -> Any:
        """The plain store database of ``app_id`` (the default app's when None): for the
        runtime, tests and scripts, never for plugins."""
        return self.client[self.database_name(app_id or self.default_app)]

    def for_call(self, call: CallContext) -> ScopedDatabase:
        """The database of ``call``'s app, scoped to its caller."""
        return self._scoped(call, self._policy(call))

    def escalated(self, call: CallContext, reason: str) -> ScopedDatabase:
        """The database of ``call``'s app for cross-user work, when the caller may."""
        policy = self._policy(call)
        if not self._may_escalate(call):
            policy.violation("db.as_admin()", self._escalation_problem(call))
        return self._scoped(call, dataclasses.replace(policy, escalation=reason))

    def check_recipient(self, call: CallContext, user_id: str, operation: str) -> None:
        """For services acting on a user: a user other than the caller needs the escalation
        right (superadmin or a role the manifest's ``escalation_roles`` names) and is
        logged; otherwise it is refused (or, in audit mode, logged)."""
        if self.mode == "off" or user_id == call.identity.user_id:
            return
        label = f"{operation}(user_id={user_id!r})"
        if self._may_escalate(call):
            logger.info(
                "isolation escalation (plugin=%s user=%s) %s",
                call.plugin,
                call.identity.user_id,
                logged(label),
            )
            return
        self._policy(call).violation(label, self._escalation_problem(call))

    def check_plugin(self, call: CallContext, plugin: str, operation: str) -> None:
        """For settings of another plugin than ``call``'s: refused to a sandboxed plugin the
        operator did not list (they may hold the caller's key to another service), in every
        mode: they are the caller's own, no per-user check that audit or off relax."""
        if plugin == call.plugin or self.plugin_may_escalate(call.plugin):
            return
        self._policy(call).refuse(
            f"{operation}(plugin={plugin!r})",
            unlisted(call.plugin, "using another plugin's settings"),
        )

    def _scoped(self, call: CallContext, policy: Policy) -> ScopedDatabase:
        return ScopedDatabase(self.app(call.identity.app_id), policy, self.indexes, self.modes)

    def _policy(self, call: CallContext) -> Policy:
        shared = manifest_names(self._extra(call.plugin), "shared_collections")
        confined = not self.plugin_may_escalate(call.plugin)
        return Policy(self.mode, call.identity.user_id, call.plugin, shared, confined=confined)

    def _may_escalate(self, call: CallContext) -> bool:
        if not self.plugin_may_escalate(call.plugin):
            return False
        identity = call.identity
        return may_escalate(identity.roles, identity.is_superadmin, self._roles(call))

    def _escalation_problem(self, call: CallContext) -> str:
        if not self.plugin_may_escalate(call.plugin):
            return unlisted(call.plugin, "escalation")
        allowed = ", ".join(sorted(self._roles(call))) or "none declared"
        return (
            "escalation needs a superadmin caller or one of the roles in the manifest's "
            f"escalation_roles ({allowed})"
        )

    def _roles(self, call: CallContext) -> frozenset[str]:
        return manifest_names(self._extra(call.plugin), "escalation_roles")

    def _extra(self, plugin: str) -> dict[str, Any]:
        manifest = self.manifest_of(plugin)
        return manifest.extra if manifest is not None else {}


_bound: Databases | None = None


def bind(databases: Databases) -> None:
    """Make ``databases`` what ``db`` uses; called by the runtime at start."""
    global _bound
    _bound = databases


def unbind(databases: Databases | None = None) -> None:
    """Forget the bound databases; given ``databases``, only if they are still the bound
    ones (a runtime stopping late must not unbind a newer one)."""
    global _bound
    if databases is None or databases is _bound:
        _bound = None


def bound() -> Databases:
    """The databases of the running runtime."""
    if _bound is None:
        raise NotBound(
            "core.config.database.db was used outside a running Tessera runtime; "
            "run the plugin with `tessera serve` or tessera.testing"
        )
    return _bound


def caller(operation: str = "the database") -> CallContext:
    """The call in progress; NotBound when plugin code runs with no caller."""
    call = current_call.get()
    if call is not None:
        return call
    bound()
    raise no_caller(operation)


def _current() -> ScopedDatabase:
    return bound().for_call(caller())


class AppDatabase:
    """``db``: a stand-in for the calling app's database with PyMongo's database API."""

    __slots__ = ()

    def current(self) -> ScopedDatabase:
        """The database of the call in progress, scoped to its caller."""
        return _current()

    def as_admin(self, *, reason: str) -> DatabaseRef:
        """The app database for cross-user work (an admin listing, a system job).

        Allowed to superadmins and to roles the plugin's manifest lists in
        ``escalation_roles``, checked now and again at each use; every operation is logged
        with the caller, plugin and reason. It still holds only this app's collections.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("db.as_admin() needs a reason, e.g. db.as_admin(reason='export')")
        reason = str.__str__(reason)
        call = caller("db.as_admin()")
        bound().escalated(call, reason)  # refuse now rather than at the first operation
        logger.info(
            "isolation escalation granted (plugin=%s user=%s reason=%s)",
            call.plugin,
            call.identity.user_id,
            logged(repr(reason)),
        )
        return DatabaseRef(lambda: bound().escalated(caller("db.as_admin()"), reason))

    def __getitem__(self, name: str) -> CollectionRef:
        return CollectionRef(_current, name)

    def __getattr__(self, name: str) -> Any:
        return _database_attribute(_current, name)

    def get_collection(self, name: str) -> CollectionRef:
        """The collection called ``name``, resolved at each use like ``db[name]``."""
        return CollectionRef(_current, name)

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


db = AppDatabase()
