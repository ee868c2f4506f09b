"""Isolation fixtures: ``db`` bound to an embedded store, and a way to act as a caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tessera.auth.identity import Identity
from tessera.context import CallContext, current_call
from tessera.isolation.modes import CollectionModes
from tessera.plugins.manifest import parse_manifest
from tessera.services.database import Databases
from tessera.services.database import bind as bind_databases
from tessera.services.database import unbind as unbind_databases
from tessera.store import open_client

APP = "shop"
#: The test plugins the operator lists in --sandbox-escalation in sandbox mode: those that
#: list every user's documents, for the tests to see what crossed, and ``spy``, which hears
#: the runtime's events (unlisted, it would hear none: see tests/sandbox/test_escalation.py).
ESCALATING = ("admin_listing", "late_read", "spy")


@pytest.fixture(params=["in-process", "sandbox"])
def plugin_mode(request: pytest.FixtureRequest) -> str:
    """Every test here that runs plugins through a server (``serve``) or a runtime runs
    with them in-process and sandboxed. The rest stay single-mode, as they run no plugin
    code: the scoped ``db`` and its rules driven directly on a store (test_collection,
    test_indexes, test_rules, test_scope, the snapshot tests' own calls), and the module
    exports; the sandbox's worker serves its plugins through that same ``db``."""
    return str(request.param)


@pytest.fixture
def serve(serve: Callable[..., Any]) -> Callable[..., Any]:
    """The root ``serve``, with the plugins in ESCALATING allowed to escalate when sandboxed."""

    def _serve(*args: Any, **values: Any) -> Any:
        values.setdefault("sandbox_escalation", ESCALATING)
        return serve(*args, **values)

    return _serve


@pytest.fixture
async def store() -> AsyncIterator[Any]:
    client = open_client("sqlite://:memory:")
    yield client
    unbind_databases()
    await client.close()


@pytest.fixture
def bind(store: Any) -> Callable[..., Any]:
    """``bind(isolation="enforce", **manifest)`` points ``db`` at the store; the manifest
    keys (shared_collections, escalation_roles) belong to the plugin "p"."""

    def _bind(isolation: str = "enforce", **manifest: Any) -> Any:
        parsed = parse_manifest(manifest, "p")
        databases = Databases(
            store,
            default_app=APP,
            isolation=isolation,
            manifest_of=lambda name: parsed if name == "p" else None,
            modes=CollectionModes(store["_tessera"]["collection_modes"]),
        )
        bind_databases(databases)
        return databases.app()

    return _bind


@contextmanager
def caller(
    user_id: str, *, roles: tuple[str, ...] = (), superadmin: bool = False, plugin: str = "p"
) -> Iterator[None]:
    """Run the block as a plugin call of ``user_id``."""
    identity = Identity(user_id, user_id, APP, roles=roles, is_superadmin=superadmin)
    token = current_call.set(CallContext(identity, plugin))
    try:
        yield
    finally:
        current_call.reset(token)
