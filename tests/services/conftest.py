"""Fixtures for the service tests: the system database of a fresh in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tessera.services.database import SYSTEM_DATABASE
from tessera.store import open_client


@pytest.fixture
async def system() -> AsyncIterator[Any]:
    client = open_client("sqlite://:memory:")
    yield client[SYSTEM_DATABASE]
    await client.close()


@pytest.fixture(params=["in-process", "sandbox"])
def plugin_mode(request: pytest.FixtureRequest) -> str:
    """Every test here that starts a server runs with plugins in-process and sandboxed."""
    return str(request.param)
