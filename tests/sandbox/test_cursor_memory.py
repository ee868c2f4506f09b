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


async def _bulky() -> None:
    """16 small documents then 90 of 1 MiB."""
    await db["bulk"].insert_many([{"n": n} for n in range(16)])
    await db["bulk"].insert_many([{"n": 16 + n, "blob": "x" * MIB} for n in range(90)])


async def _read_to_end(state: CallState, answer: Any) -> list[int]:
    seen: list[int] = []
    while True:
        assert len(answer.raw) <= BATCH_BYTES
        page = bson.decode(answer.raw)
        seen += [d["n"] for d in page["docs"]]
        if not page["cursor"]:
            return seen
        answer = await perform({"op": "more", "cursor": page["cursor"]}, state)


async def test_small_documents_then_large_ones_cannot_pile_up_on_the_server(store) -> None:
    """An aggregation (its batches not bounded in bytes by the store): the first 16
    documents tell the server the documents are small, so a first batch fetches 85 MiB
    and sends 16. Opening cursor after cursor on them would keep 69 MiB each; the call
    holds about HELD_BYTES, closing older ones."""
    with alice():
        await _bulky()
        state = CallState("bulky", lambda *args: None)
        pipeline = [{"$match": {"user_id": "alice"}}, {"$sort": {"n": 1}}, {"$project": {"x": 0}}]
        query: dict[str, Any] = {"coll": "bulk", "method": "aggregate", "args": [pipeline]}
        most = 0
        for _ in range(6):
            answer = await perform({"op": "open", "query": query}, state)
            most = max(most, held(state))
        assert most <= HELD_BYTES + 90 * MIB  # what the call holds, and one cursor's fetch
        with pytest.raises(RuntimeError, match="cursor closed"):
            await perform({"op": "more", "cursor": 1}, state)
        seen = await _read_to_end(state, answer)  # the latest cursor reads on, in order
    assert seen == list(range(106))


async def test_a_find_holds_at_most_one_store_batch_per_cursor(store) -> None:
    """A find on the embedded store reads each batch in one read the store bounds at 16
    MiB: six cursors on the same documents hold at most that each (and the call about
    HELD_BYTES in all), and the latest reads on to its end in order."""
    with alice():
        await _bulky()
        state = CallState("bulky", lambda *args: None)
        query: dict[str, Any] = {
            "coll": "bulk",
            "method": "find",
            "args": [{"user_id": "alice"}],
            "kwargs": {"sort": [["n", 1]]},
        }
        for _ in range(6):
            answer = await perform({"op": "open", "query": query}, state)
            each = [len(bson.encode({"docs": c.pending})) for c in state.cursors.values()]
            assert max(each) <= BATCH_BYTES + 2 * MIB
            assert sum(each) <= HELD_BYTES + BATCH_BYTES + 2 * MIB
        assert await _read_to_end(state, answer) == list(range(106))


def test_a_page_of_stored_documents_is_the_bson_of_the_decoded_page() -> None:
    """The server copies documents read as stored BSON into a batch without decoding
    them: the frame is byte for byte what encoding the decoded documents makes."""
    from bson import ObjectId

    from tessera.sandbox.operations import BATCH, _page

    docs = [{"_id": ObjectId(), "n": n, "s": "é" * n, "a": [n, {"b": None}]} for n in range(3)]
    for count in (1, 3, BATCH, BATCH + 1):
        page = (docs * (count // 3 + 1))[:count]
        for cursor in (0, 7, 2**31 - 1, 2**31):
            expected = bson.encode({"docs": page, "cursor": cursor})
            assert _page([bson.encode(d) for d in page], cursor) == expected
    assert _page([], 0) == bson.encode({"docs": [], "cursor": 0})
