"""The MongoDB backend's Motor shims: cursors usable awaited and not, PyMongo underneath."""

from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from tessera.store import mongo
from tessera.store.mongo import PendingCursor, open_mongo_client

# Port 9 (discard) has no MongoDB: building clients and shims must not need a server.
NO_SERVER = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"


class ListCursor:
    """A small real async cursor over a list, with the two reading methods plugins use."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self._documents = iter(documents)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return next(self._documents)
        except StopIteration:
            raise StopAsyncIteration from None

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        documents = []
        async for document in self:
            documents.append(document)
            if length is not None and len(documents) == length:
                break
        return documents


DOCUMENTS = [{"_id": 1}, {"_id": 2}, {"_id": 3}]


def pending(opened: list[int]) -> PendingCursor[ListCursor]:
    async def opener() -> ListCursor:
        opened.append(1)
        return ListCursor(DOCUMENTS)

    return PendingCursor(opener)


async def test_pending_cursor_awaited_is_the_cursor() -> None:
    cursor = await pending([])
    assert isinstance(cursor, ListCursor)
    assert await cursor.to_list() == DOCUMENTS


async def test_pending_cursor_to_list_without_await() -> None:
    assert await pending([]).to_list() == DOCUMENTS
    assert await pending([]).to_list(None) == DOCUMENTS
    assert await pending([]).to_list(2) == DOCUMENTS[:2]


async def test_pending_cursor_async_for_without_await() -> None:
    assert [document async for document in pending([])] == DOCUMENTS


async def test_pending_cursor_opens_once_and_reads_on() -> None:
    opened: list[int] = []
    cursor = pending(opened)
    assert await cursor.to_list(1) == DOCUMENTS[:1]
    assert await cursor.to_list() == DOCUMENTS[1:]
    assert opened == [1]


async def test_client_hands_out_shimmed_databases_and_collections() -> None:
    client = open_mongo_client(NO_SERVER)
    try:
        for database in (client["app"], client.get_database("app"), client.app):
            assert isinstance(database, mongo.Database)
            assert database.name == "app"
        database = client["app"]
        for collection in (database["items"], database.get_collection("items"), database.items):
            assert isinstance(collection, mongo.Collection)
            assert collection.full_name == "app.items"
        assert isinstance(database["items"].with_options(), mongo.Collection)
        assert client.codec_options.tz_aware is False
    finally:
        await client.close()


async def test_aggregate_and_list_indexes_need_no_await_to_be_called() -> None:
    client = open_mongo_client(NO_SERVER)
    try:
        collection = client["app"]["items"]
        assert isinstance(collection.aggregate([{"$match": {}}]), PendingCursor)
        assert isinstance(collection.list_indexes(), PendingCursor)
        # Everything else is PyMongo's own method.
        assert collection.find_one.__self__ is collection._collection
        assert isinstance(collection._collection, AsyncCollection)
    finally:
        await client.close()


async def test_motor_and_pymongo_forms_on_every_backend(db: Any) -> None:
    items = db["items"]
    await items.insert_many([{"_id": i, "n": i % 2} for i in range(4)])
    pipeline = [{"$match": {"n": 1}}, {"$sort": {"_id": 1}}]
    expected = [{"_id": 1, "n": 1}, {"_id": 3, "n": 1}]
    assert await (await items.aggregate(pipeline)).to_list() == expected
    assert await items.aggregate(pipeline).to_list(None) == expected
    assert [d async for d in items.aggregate(pipeline)] == expected
    assert [i["name"] for i in await items.list_indexes().to_list()] == ["_id_"]
    assert [i["name"] async for i in await items.list_indexes()] == ["_id_"]
    assert await items.find({}, sort=[("_id", 1)]).to_list() == await items.find().to_list(None)
