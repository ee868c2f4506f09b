"""Two processes on one SQLite file: each sees the collections and indexes the other made.

Two clients opened on one file stand for two processes: each has its own engine, with
its own connections and its own copy of the catalog. Each operation, read or write, sees the
collections and indexes the other made before it started: no waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from tessera.store import open_client


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    path = str(tmp_path / "shared.db")
    first, second = open_client(path), open_client(path)
    yield first["app"], second["app"]
    await first.close()
    await second.close()


async def test_a_collection_made_by_one_process_is_read_by_the_other(pair):
    a, b = pair
    await a["notes"].insert_one({"_id": 1, "user_id": "u"})

    assert await b["notes"].find_one({"_id": 1}) == {"_id": 1, "user_id": "u"}
    assert "notes" in await b.list_collection_names()


async def test_both_processes_write_to_a_collection_one_of_them_made(pair):
    a, b = pair
    await a["notes"].insert_one({"_id": 1})
    await b["notes"].insert_one({"_id": 2})
    await a["notes"].insert_one({"_id": 3})
    assert await a["notes"].count_documents({}) == 3
    assert await b["notes"].count_documents({}) == 3


async def test_a_unique_index_made_by_one_process_holds_in_the_other(pair):
    a, b = pair
    await b["users"].insert_one({"email": "x@example.com"})
    await a["users"].create_index("email", unique=True)
    with pytest.raises(DuplicateKeyError):
        await b["users"].insert_one({"email": "x@example.com"})


async def test_an_index_made_by_one_process_is_kept_up_to_date_by_the_other(pair):
    a, b = pair
    await a["items"].create_index("tag")
    await b["items"].insert_many([{"tag": "red"}, {"tag": "blue"}])
    assert await a["items"].count_documents({"tag": "red"}) == 1
    assert [i["name"] for i in await b["items"].list_indexes().to_list(None)] == ["_id_", "tag_1"]


async def test_a_dropped_collection_is_gone_for_the_other_process(pair):
    a, b = pair
    await a["old"].insert_one({"_id": 1})
    assert await b["old"].count_documents({}) == 1
    await a["old"].drop()
    assert await b["old"].count_documents({}) == 0
    assert "old" not in await b.list_collection_names()
    await b["old"].insert_one({"_id": 2})
    assert await a["old"].count_documents({}) == 1


async def test_a_multikey_index_made_by_one_process_finds_arrays_in_the_other(pair):
    a, b = pair
    await a["posts"].create_index("tags")
    assert await b["posts"].count_documents({"tags": "x"}) == 0  # b plans on the index
    await a["posts"].insert_one({"tags": ["x", "y"]})
    assert await b["posts"].count_documents({"tags": "x"}) == 1
    assert await b["posts"].find({"tags": "y"}).sort("tags", 1).to_list(None) != []


async def test_an_index_made_by_one_process_is_planned_on_by_the_other(pair):
    a, b = pair
    await a["items"].insert_many([{"tag": i % 10} for i in range(100)])
    assert [i["name"] for i in await b["items"].list_indexes().to_list(None)] == ["_id_"]
    await a["items"].create_index("tag")
    names = [i["name"] for i in await b["items"].list_indexes().to_list(None)]
    assert names == ["_id_", "tag_1"]
    assert await b["items"].count_documents({"tag": 3}) == 10
