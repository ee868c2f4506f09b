"""The usage ledgers and counters below the gate, each on its real backing: the embedded
store's file (two clients standing for two processes), a store collection (MongoDB's
path, also run against MongoDB when ``TESSERA_TEST_MONGODB_URI`` is set), and the file
the workers of one machine share."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tessera.cluster.shared import SharedFile
from tessera.entitlements.counters import Counters, DocumentCounters
from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.entitlements.ledger import UsageKey
from tessera.entitlements.ledger_shared import SharedLedger
from tessera.entitlements.setup import store_counters
from tessera.store import open_client
from tests.store.test_faults import immutable

MONGODB_URI = os.environ.get("TESSERA_TEST_MONGODB_URI")


def key(period: str, user: str = "ann") -> UsageKey:
    return UsageKey("app", user, "notes", "notes_per_month", period)


@pytest.fixture
async def two_stores(tmp_path: Path) -> AsyncIterator[tuple[Counters, Counters]]:
    """The counters of two clients of one embedded store file, as two processes have."""
    first, second = open_client(str(tmp_path / "store.db")), open_client(str(tmp_path / "store.db"))
    yield await store_counters(first), await store_counters(second)
    await first.close()
    await second.close()


@pytest.fixture(params=["embedded"] + (["mongodb"] if MONGODB_URI else []))
async def documents(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Counters]:
    """Counters as documents of a collection: MongoDB's path."""
    client: Any = open_client(MONGODB_URI if request.param == "mongodb" else str(tmp_path / "s.db"))
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield DocumentCounters(client[name]["entitlement_usage"])
    if request.param == "mongodb":
        await client.drop_database(name)
    await client.close()


async def test_a_new_period_is_noted_first_by_one_process_only(
    two_stores: tuple[Counters, Counters],
) -> None:
    first, second = two_stores
    assert await first.roll(key("2026-03")) is None  # the first period ever: nothing reset
    assert await second.roll(key("2026-03")) is None
    assert await second.roll(key("2026-04")) == "2026-03"
    assert await first.roll(key("2026-04")) is None
    assert await first.roll(key("2026-03")) is None  # a late call of March resets nothing


async def test_counters_as_documents_charge_exactly_under_concurrency(
    documents: Counters,
) -> None:
    counter = key("2026-03")
    added = await asyncio.gather(*(documents.add(counter, 1, 50) for _ in range(200)))
    assert added.count(True) == 50
    assert await documents.load(counter) == 50
    assert await documents.add(counter, 1, 50) is False
    assert await documents.load(key("2026-04")) == 0


async def test_counters_as_documents_note_a_new_period_once(documents: Counters) -> None:
    assert await documents.roll(key("2026-03")) is None
    rolled = await asyncio.gather(*(documents.roll(key("2026-04")) for _ in range(20)))
    assert rolled.count("2026-03") == 1 and rolled.count(None) == 19
    assert await documents.roll(key("2026-03")) is None
    assert await documents.roll(key("2026-03", user="bob")) is None  # another counter


@pytest.fixture
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[SharedLedger, SharedLedger]]:
    """The ledgers of two workers of one machine: one shared file, one store file."""
    opened = []
    ledgers = []
    for _ in range(2):
        shared, store = SharedFile(tmp_path), open_client(str(tmp_path / "store.db"))
        await shared.start()
        opened.append((shared, store))
        ledgers.append(SharedLedger(shared, await store_counters(store)))
    yield ledgers[0], ledgers[1]
    for shared, store in opened:
        await shared.close()
        await store.close()


async def test_workers_sharing_a_machine_charge_exactly_under_concurrency(
    two_workers: tuple[SharedLedger, SharedLedger],
) -> None:
    counter = key("2026-03")

    async def call(ledger: SharedLedger) -> bool:
        hold = await ledger.hold(counter, 1, 50, 60, 0)
        if hold is None:
            return False
        await asyncio.sleep(0.01)  # the call runs while its amount is held
        await ledger.commit(hold)
        return True

    done = await asyncio.gather(*(call(two_workers[n % 2]) for n in range(200)))
    assert done.count(True) == 50
    assert await two_workers[0].used([counter]) == [50]
    assert await two_workers[1].used([counter]) == [50]


async def test_a_dead_workers_hold_ends_with_its_lease_and_a_release_frees_at_once(
    two_workers: tuple[SharedLedger, SharedLedger],
) -> None:
    first, second = two_workers
    counter = key("2026-03")
    assert await first.hold(counter, 1, 1, 0.3, 0) is not None  # never settled
    assert await second.hold(counter, 1, 1, 60, 0) is None
    await asyncio.sleep(0.4)
    hold = await second.hold(counter, 1, 1, 60, 0)
    assert hold is not None
    await second.release(hold)
    assert await first.hold(counter, 1, 1, 60, 0) is not None
    assert await first.used([counter]) == [0]


async def test_workers_start_from_what_the_store_counted_before_them(tmp_path: Path) -> None:
    store = open_client(str(tmp_path / "store.db"))
    counters = await store_counters(store)
    assert await counters.add(key("2026-03"), 7, 50)  # charged by a single process earlier
    shared = SharedFile(tmp_path)
    await shared.start()
    ledger = SharedLedger(shared, counters)
    hold = await ledger.hold(key("2026-03"), 1, 50, 60, 0)
    assert hold is not None
    await ledger.commit(hold)
    assert await ledger.used([key("2026-03")]) == [8]
    assert await counters.load(key("2026-03")) == 8  # written through for the next start
    await shared.close()
    await store.close()


async def test_a_charge_the_workers_file_missed_is_made_with_the_next(tmp_path: Path) -> None:
    """A call that succeeded while the shared file could not be written is not free: its
    charge waits, and is made before the next charge of the counter."""
    store = open_client(str(tmp_path / "store.db"))
    shared = SharedFile(tmp_path)
    await shared.start()
    ledger = SharedLedger(shared, await store_counters(store))
    counter = key("2026-03")
    first = await ledger.hold(counter, 1, 50, 60, 0)
    assert first is not None
    with (
        immutable(tmp_path / "workers.db", tmp_path / "workers.db-wal"),
        pytest.raises(EntitlementsUnavailable),
    ):
        await ledger.commit(first)
    second = await ledger.hold(counter, 1, 50, 60, 0)
    assert second is not None
    await ledger.commit(second)
    assert await ledger.used([counter]) == [2]
    assert await (await store_counters(store)).load(counter) == 2
    await shared.close()
    await store.close()
