"""Calling a plugin: inject the verified identity, bound the time, classify the outcome.

Knows nothing of HTTP: the HTTP layer turns an :class:`Outcome` into a status code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, NamedTuple

from pymongo.errors import ExecutionTimeout, WriteError

from tessera.auth.identity import Identity
from tessera.cluster.errors import ClusterUnavailable
from tessera.context import CallContext, current_call
from tessera.governance import Governor, Limits
from tessera.isolation import IsolationError
from tessera.plugins.deadlines import DeadlinePassed, Deadlines
from tessera.plugins.errors import ReportedCrash
from tessera.plugins.registry import Plugin
from tessera.plugins.threads import PluginThreads
from tessera.store.engine.engine import caller as store_caller
from tessera.store.engine.engine import deadline as store_deadline
from tessera.store.engine.faults import OUT_OF_DISK_SPACE

logger = logging.getLogger("tessera.execute")

# Injected only into plugins whose manifest asks (needs_user_jwt), removed from the others'
# data: a client's own "user_jwt" is never passed on as if the runtime had put it there.
USER_JWT = "user_jwt"


# How a plugin call ended. Plain strings, not an Enum: on Python 3.11 reading an Enum
# member costs about 100 ns, and each call read eight of them.
Status = Literal[
    "ok",  # returned a dict without "error"
    "error",  # returned a dict with "error": the client's fault, body passed through
    "crash",  # raised, or returned something that is not a dict
    "timeout",  # ran past its timeout
    "unavailable",  # a service it used, shared by the cluster, was unreachable
    "unwritable",  # left a store write failing for a full or read-only disk uncaught
]


class Outcome(NamedTuple):
    """The result of one plugin call (a tuple: made on every call)."""

    status: Status
    body: dict[str, Any]
    duration: float


def inject_identity(
    payload: dict[str, Any], identity: Identity, entitlements: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The data a plugin receives: the client's keys, with identity keys overwritten;
    ``entitlements``, when plans are on, are the gate's for this call (a fresh dict)."""
    if entitlements is None:
        # Usually empty: {} is several times cheaper than copying an empty mapping.
        entitlements = dict(identity.entitlements) if identity.entitlements else {}
    return {
        **payload,
        "user_id": identity.user_id,
        "app_id": identity.app_id,
        "_context": identity.context(),
        "_entitlements": entitlements,
    }


Listener = Callable[[Plugin, str, Identity, Outcome], Awaitable[None] | None]


class Executor:
    """Runs plugin entry points: async ones on the loop, sync ones in worker threads, of
    which one user and one plugin hold at most a share (:class:`PluginThreads`)."""

    def __init__(self, governor: Governor, *, threads: int) -> None:
        self.governor = governor
        self.threads = PluginThreads(threads)
        self._listeners: list[Listener] = []
        self._deadlines = Deadlines()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(plugin, action, identity, outcome)`` after every call."""
        self._listeners.append(listener)

    def limits(self, plugin: Plugin) -> Limits:
        """The plugin's limits: the server's defaults, made stricter by its manifest."""
        return self.governor.limits(plugin.name, plugin.generation, plugin.manifest)

    async def call(
        self,
        plugin: Plugin,
        payload: dict[str, Any],
        identity: Identity,
        limits: Limits,
        request_id: str = "-",
        user_jwt: str | None = None,
        entitlements: dict[str, Any] | None = None,
    ) -> Outcome:
        """Call ``plugin`` with ``payload`` as ``identity`` under ``limits`` (its
        :meth:`limits`, which the caller has already needed); never raises for plugin faults.
        ``user_jwt``, the caller's verified token, reaches only a plugin that asks for it;
        ``entitlements`` are what the plans gate granted the call.

        Raises, before the plugin runs, InvalidInput when the input does not match the
        action's schema and a GovernanceError when the plugin's limits refuse the call.
        """
        assert plugin.code is not None, "only loaded plugins can be called"
        action = payload.get("action")
        action = action if isinstance(action, str) else ""
        declared = plugin.manifest.actions.get(action)
        if declared is not None:
            declared.validate(payload)
        if limits.governed:
            await self.governor.admit(plugin.name, identity, limits)
        token = current_call.set(CallContext(identity, plugin.name, request_id, action))
        # The store's reader threads serve callers in turn: one user's slow reads wait
        # behind everyone else's, not the other way round.
        reader_turn = store_caller.set((identity.app_id, identity.user_id))
        # And the store stops its work for this call when the call's time is up.
        ends = time.monotonic() + limits.timeout if limits.timeout > 0 else None
        store_turn_ends = store_deadline.set(ends)
        started = time.perf_counter()
        try:
            data = inject_identity(payload, identity, entitlements)
            if plugin.manifest.needs_user_jwt:
                data[USER_JWT] = user_jwt
            elif USER_JWT in data:
                del data[USER_JWT]
            outcome = await self._run(plugin, data, limits.timeout, started)
            # Still in the call's context: what listeners publish runs as the caller.
            for listener in self._listeners:
                result = listener(plugin, action, identity, outcome)
                if result is not None:
                    await result
        finally:
            store_deadline.reset(store_turn_ends)
            store_caller.reset(reader_turn)
            current_call.reset(token)
            if limits.governed:
                await self.governor.release(plugin.name, limits)
        return outcome

    async def _run(
        self, plugin: Plugin, data: dict[str, Any], timeout: float, started: float
    ) -> Outcome:
        try:
            with self._deadlines.watch(timeout):
                try:
                    result = await self._enter(plugin, data)
                except ExecutionTimeout:
                    # The store stopped the call's work at its deadline, a moment before the
                    # sweep would have; a time limit the plugin set itself is its own crash.
                    if time.perf_counter() - started < timeout:
                        raise
                    raise DeadlinePassed from None
        except DeadlinePassed:  # a TimeoutError of the plugin's own is a crash, below
            logger.error("plugin %s timed out after %.1fs", plugin.name, timeout)
            return Outcome("timeout", {}, time.perf_counter() - started)
        except IsolationError as exc:
            # The plugin's own mistake, refused before anything was read or written: the
            # caller gets the explanation, as a 403.
            logger.error("plugin %s: %s", plugin.name, exc)
            body = {"error": str(exc), "error_code": "forbidden"}
            return Outcome("error", body, time.perf_counter() - started)
        except ReportedCrash as exc:
            logger.error("plugin %s: %s", plugin.name, exc)
            reported: dict[str, Any] = {"detail": str(exc), "error_code": exc.error_code}
            if exc.retry_after is not None:
                reported["retry_after"] = exc.retry_after
            return Outcome("crash", reported, time.perf_counter() - started)
        except ClusterUnavailable as exc:
            logger.error("plugin %s: %s", plugin.name, exc)
            return Outcome("unavailable", {}, time.perf_counter() - started)
        except WriteError as exc:
            if exc.code != OUT_OF_DISK_SPACE:
                logger.exception("plugin %s raised", plugin.name)
                return Outcome("crash", {}, time.perf_counter() - started)
            logger.error("plugin %s: %s", plugin.name, exc)
            return Outcome("unwritable", {}, time.perf_counter() - started)
        except Exception:
            logger.exception("plugin %s raised", plugin.name)
            return Outcome("crash", {}, time.perf_counter() - started)
        duration = time.perf_counter() - started
        if not isinstance(result, dict):
            logger.error(
                "plugin %s returned %s instead of a dict", plugin.name, type(result).__name__
            )
            return Outcome("crash", {}, duration)
        status: Status = "error" if "error" in result else "ok"
        return Outcome(status, result, duration)

    async def _enter(self, plugin: Plugin, data: dict[str, Any]) -> Any:
        """What the plugin's entry point returns: on the loop, or in a worker thread."""
        code = plugin.code
        assert code is not None
        if code.is_async:
            result = await code.entry(data)
        else:
            # The caller as injected (the async path reads nothing more).
            user = (data["app_id"], data["user_id"])
            result = await self.threads.run(user, plugin.name, code.entry, data)
        if type(result) is not dict and asyncio.iscoroutine(result):  # from a sync wrapper
            result = await result
        return result

    def close(self) -> None:
        """Stop the worker threads (waiting for none: a stuck sync plugin cannot be killed)."""
        self.threads.close()
