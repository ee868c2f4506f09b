"""What the server holds for a sandboxed call's cursors, on a real on-disk store: documents
it fetched but could not send in one batch are bounded per call, whatever the plugin
stored to make the first few small and the rest large."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bson
import pytest

from tessera.auth.identity import Identity
from tessera.context import CallContext, current_call
from tessera.isolation.modes import CollectionModes
from tessera.sandbox.operations import BATCH_BYTES, HELD_BYTES, CallState, perform
from tessera.services.database import Databases, db
from tessera.services.database import bind as bind_databases
from tessera.services.database import unbind as unbind_databases
from tessera.store import open_client

MIB = 1024 * 1024


@contextmanager
def alice() -> Iterator[None]:
    token = current_call.set(CallContext(Identity("alice", "alice", "shop"), "bulky"))
    try:
        yield
    finally:
        current_call.reset(token)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[None]:
    client = open_client(str(tmp_path / "store.db"))
    bind_databases(
        Databases(
            client,
            default_app="shop",
            isolation="enforce",
            manifest_of=lambda name: None,
            modes=CollectionModes(client["_tessera"]["collection_modes"]),
        )
    )
    yield
    unbind_databases()
    await client.close()


def held(state: CallState) -> int:
    """BSON bytes of the documents the server fetched for the call and has not sent."""
    return sum(len(bson.encode({"docs": c.pending})) for c in state.cursors.values())


async def test_small_documents_then_large_ones_cannot_pile_up_on_the_server(store) -> None:
    """16 small documents then 1 MiB ones: the first tell the server the documents are
    small, so a first batch fetches 85 MiB and sends 16. Opening cursor after cursor on
    them would keep 69 MiB each; the call holds about HELD_BYTES, closing older ones."""
    with alice():
        await db["bulk"].insert_many([{"n": n} for n in range(16)])
        await db["bulk"].insert_many([{"n": 16 + n, "blob": "x" * MIB} for n in range(90)])
        state = CallState("bulky", lambda *args: None)
        query: dict[str, Any] = {
            "coll": "bulk",
            "method": "find",
            "args": [{"user_id": "alice"}],
            "kwargs": {"sort": [["n", 1]]},
        }
        most = 0
        for _ in range(6):
            answer = await perform({"op": "open", "query": query}, state)
            most = max(most, held(state))
        assert most <= HELD_BYTES + 90 * MIB  # what the call holds, and one cursor's fetch
        with pytest.raises(RuntimeError, match="cursor closed"):
            await perform({"op": "more", "cursor": 1}, state)
        seen: list[int] = []
        while True:  # the latest cursor reads on to its end, in order
            assert len(answer.raw) <= BATCH_BYTES
            page = bson.decode(answer.raw)
            seen += [d["n"] for d in page["docs"]]
            if not page["cursor"]:
                break
            answer = await perform({"op": "more", "cursor": page["cursor"]}, state)
    assert seen == list(range(106))
