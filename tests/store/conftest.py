"""Store fixtures: every store test runs on the embedded engine, and on MongoDB too
when ``TESSERA_TEST_MONGODB_URI`` is set."""

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tessera.store import open_client

MONGODB_URI = os.environ.get("TESSERA_TEST_MONGODB_URI")
BACKENDS = ["embedded"] + (["mongodb"] if MONGODB_URI else [])


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """An async client on a fresh embedded file, or on the MongoDB under test."""
    if request.param == "mongodb":
        c = open_client(MONGODB_URI)
    else:
        c = open_client(str(tmp_path / "store.db"))
    yield c
    await c.close()


@pytest.fixture
async def db(client: Any) -> AsyncIterator[Any]:
    """A database with a unique name, dropped afterwards on MongoDB."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield client[name]
    if MONGODB_URI:
        await client.drop_database(name)


@pytest.fixture
async def embedded_db(tmp_path: Any) -> AsyncIterator[Any]:
    """A database on a fresh embedded file only, for behaviour MongoDB does not share
    (the embedded store's own limits and threads): tests using it are embedded-only."""
    c = open_client(str(tmp_path / "store.db"))
    yield c["t"]
    await c.close()
