"""The resume window: per-user numbering, replay ranges, bounds, persistence."""

from __future__ import annotations

import asyncio

from tessera.services.resume import TRIM_EVERY, StoredResumeLog
from tessera.store import open_client


async def test_each_user_of_each_app_has_its_own_sequence(system):
    log = StoredResumeLog(system)
    await log.ensure_indexes()
    assert await log.last_seq("app", "alice") == 0
    assert [await log.append("app", "alice", f'{{"n":{n}}}') for n in range(3)] == [1, 2, 3]
    assert await log.append("app", "bob", "{}") == 1
    assert await log.append("other", "alice", "{}") == 1
    assert await log.last_seq("app", "alice") == 3


async def test_since_returns_the_range_oldest_first(system):
    log = StoredResumeLog(system)
    for n in range(5):
        await log.append("app", "alice", f'{{"n":{n}}}')
    assert await log.since("app", "alice", 3) == [(4, '{"n":3}'), (5, '{"n":4}')]
    assert [seq for seq, _ in await log.since("app", "alice", 1, 3)] == [2, 3]
    assert await log.since("app", "bob", 0) == []


async def test_the_window_keeps_the_newest_messages_and_trims_the_rest(system):
    log = StoredResumeLog(system, max_messages=5)
    for n in range(TRIM_EVERY * 2):
        await log.append("app", "alice", f'{{"n":{n}}}')
    kept = await log.since("app", "alice", 0)
    assert [seq for seq, _ in kept] == list(range(TRIM_EVERY * 2 - 4, TRIM_EVERY * 2 + 1))
    stored = await system["ws_messages"].count_documents({"user_id": "alice"})
    assert stored < 5 + TRIM_EVERY


async def test_messages_older_than_the_window_are_not_replayed(system):
    log = StoredResumeLog(system, max_age=0.2)
    await log.append("app", "alice", '{"old":true}')
    await asyncio.sleep(0.3)
    await log.append("app", "alice", '{"new":true}')
    assert await log.since("app", "alice", 0) == [(2, '{"new":true}')]


async def test_the_window_survives_reopening_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = open_client(uri)
    log = StoredResumeLog(client["_tessera"])
    await log.ensure_indexes()
    await log.append("app", "alice", '{"n":1}')
    await client.close()
    client = open_client(uri)
    try:
        log = StoredResumeLog(client["_tessera"])
        assert await log.since("app", "alice", 0) == [(1, '{"n":1}')]
        assert await log.append("app", "alice", "{}") == 2
    finally:
        await client.close()


async def test_numbering_goes_on_for_users_no_longer_counted_in_memory(system, monkeypatch):
    monkeypatch.setattr("tessera.services.resume.MAX_COUNTED_USERS", 10)
    log = StoredResumeLog(system)
    await log.ensure_indexes()
    assert await log.append("app", "alice", "{}") == 1
    for n in range(20):  # alice is the oldest counted user: forgotten, then read again
        await log.append("app", f"user{n}", "{}")
    assert ("app", "alice") not in log._last
    assert await log.last_seq("app", "alice") == 1
    assert await log.append("app", "alice", "{}") == 2


class CountingReads:
    """A real collection whose ``find_one`` calls are counted."""

    def __init__(self, collection):
        self.collection = collection
        self.reads = 0

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def find_one(self, *args, **kwargs):
        self.reads += 1
        return await self.collection.find_one(*args, **kwargs)


async def test_a_users_number_is_read_from_the_store_once_then_counted(system):
    writer = StoredResumeLog(system)
    await writer.ensure_indexes()
    await writer.append("app", "alice", "{}")
    log = StoredResumeLog(system)  # a restarted process: alice's number is in the store
    log._messages = messages = CountingReads(system["ws_messages"])
    assert await log.last_seq("app", "alice") == 1  # a socket opening
    assert messages.reads == 1
    assert [await log.append("app", "alice", "{}") for _ in range(3)] == [2, 3, 4]
    assert await log.last_seq("app", "alice") == 4
    assert messages.reads == 1
