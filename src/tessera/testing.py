"""A harness for plugin authors' own pytest suites.

It runs a real Tessera runtime in the test's event loop, on a fresh in-memory store, and
calls plugins exactly as ``POST /api/execute`` does (identity injection, input schemas,
isolation, governance, status mapping), without HTTP or tokens::

    from tessera.testing import Harness

    async def test_create():
        async with Harness("plugins") as harness:
            result = await harness.execute("todo", {"action": "create", "title": "x"},
                                           user="alice")
            assert result.status == 200
            assert (await harness.messages("alice"))[0]["action"] == "created"
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from tessera.auth.identity import Identity
from tessera.context import current_event
from tessera.http.errors import HTTPError
from tessera.http.execute import call_plugin, callable_plugin
from tessera.runtime import Runtime
from tessera.services.database import SYSTEM_DATABASE
from tessera.services.resume import StoredResumeLog
from tessera.settings import Settings

__all__ = ["Harness", "Result"]


class Result(dict[str, Any]):
    """A plugin call's JSON answer, as a dict, with the HTTP ``status`` it would get."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status

    def __repr__(self) -> str:
        return f"Result(status={self.status}, {dict.__repr__(self)})"


class Harness:
    """A started runtime serving the plugins of ``plugins``, for one test.

    :param plugins: the plugins folder.
    :param settings: any setting of the settings table (``isolation="audit"``,
        ``plugin_timeout=2``...); the store is in memory and the data folder temporary.
    """

    def __init__(self, plugins: str | Path, **settings: Any) -> None:
        self._data = tempfile.TemporaryDirectory(prefix="tessera-harness-")
        values = {
            "plugins": Path(plugins),
            "data": Path(self._data.name),
            "store_uri": "sqlite://:memory:",
            "watchdog_threshold": 0,
            **settings,
        }
        self.runtime = Runtime(Settings.load(values, environ={}))
        self.events: list[tuple[str, Any]] = []

    async def __aenter__(self) -> Harness:
        await self.runtime.start()
        self.runtime.services.bus.subscribe("*", self._record)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.runtime.services.bus.unsubscribe("*", self._record)
        await self.runtime.stop()
        self._data.cleanup()

    async def _record(self, payload: Any) -> None:
        self.events.append((current_event.get(), payload))

    def identity(
        self,
        user: str,
        *,
        username: str | None = None,
        roles: tuple[str, ...] | list[str] = (),
        superadmin: bool = False,
        app: str | None = None,
    ) -> Identity:
        """The identity a verified token for ``user`` would carry."""
        return Identity(
            user_id=user,
            username=username or user,
            app_id=app or self.runtime.settings.app_id,
            roles=tuple(roles),
            is_superadmin=superadmin,
        )

    async def execute(
        self, plugin: str, body: dict[str, Any] | None = None, *, user: str, **identity: Any
    ) -> Result:
        """Call ``plugin`` with ``body`` as ``user`` (``roles=``, ``superadmin=``, ``app=``,
        ``username=``); the result is what a front end would receive, and its status. A
        plugin that asks for ``user_jwt`` gets a token for that identity, signed by the
        harness's secret."""
        caller = self.identity(user, **identity)
        try:
            target = callable_plugin(self.runtime, plugin, caller)
            limits = self.runtime.executor.limits(target)
            user_jwt = self.token(caller) if target.manifest.needs_user_jwt else None
            status, encoded = await call_plugin(
                self.runtime, target, dict(body or {}), caller, limits, user_jwt
            )
        except HTTPError as error:
            return Result(error.status_code, error.body())
        return Result(status, orjson.loads(encoded))

    def token(self, identity: Identity) -> str:
        """A bearer token for ``identity`` that the harness's runtime accepts."""
        assert self.runtime.auth is not None and self.runtime.auth.tokens is not None
        return self.runtime.auth.tokens.issue(
            identity.user_id,
            username=identity.username,
            roles=identity.roles,
            superadmin=identity.is_superadmin,
            app_id=identity.app_id,
        )

    def database(self, app: str | None = None) -> Any:
        """The plain store database of ``app`` (the default app's when None), to seed or
        inspect data in a test; plugins' ``db`` is always scoped to a caller."""
        assert self.runtime.databases is not None, "the harness is not started"
        return self.runtime.databases.app(app)

    async def settle(self) -> None:
        """Wait until every event handler started so far has finished."""
        await self.runtime.services.bus.drain()

    async def messages(self, user: str, *, app: str | None = None) -> list[dict[str, Any]]:
        """Every WebSocket message sent to ``user`` (with its ``seq``), oldest first."""
        log = StoredResumeLog(self.runtime.store[SYSTEM_DATABASE])
        kept = await log.since(app or self.runtime.settings.app_id, user, 0)
        return [{**orjson.loads(text), "seq": seq} for seq, text in kept]

    async def notifications(self, user: str, *, app: str | None = None) -> list[dict[str, Any]]:
        """``user``'s notifications, newest first."""
        notifications = self.runtime.services.notifications
        page = await notifications.page(app or self.runtime.settings.app_id, user, limit=1000)
        return list(page["notifications"])

    async def settings(self, user: str, plugin: str, *, app: str | None = None) -> dict[str, Any]:
        """``user``'s settings of ``plugin``, merged over the plugin's defaults."""
        app_id = app or self.runtime.settings.app_id
        return dict(await self.runtime.services.plugin_settings.get(app_id, user, plugin))
