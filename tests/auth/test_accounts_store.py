"""Local accounts live in a store of their own, out of reach of any handle on app data;
accounts an earlier version kept in the app store move there, none lost."""

from __future__ import annotations

import asyncio

from tessera.auth.accounts import AccountStore
from tessera.store import open_client

ACCOUNT = {"username": "elder", "password": "correct horse battery"}


async def _register_the_old_way(store_path: str) -> None:
    client = open_client(store_path)
    try:
        accounts = AccountStore(client["_tessera"]["accounts"])
        await accounts.register(ACCOUNT["username"], ACCOUNT["password"])
    finally:
        await client.close()


async def _count(store_path: str, database: str) -> int:
    client = open_client(store_path)
    try:
        return await client[database]["accounts"].count_documents({})
    finally:
        await client.close()


def test_accounts_of_an_earlier_version_move_to_the_accounts_store(serve, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_register_the_old_way(str(data / "store.db")))
    live = serve(data=data)
    response = live.client().post("/api/auth/login", json=ACCOUNT)
    assert response.status_code == 200, response.text
    me = live.client().get(
        "/api/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["username"] == "elder"
    assert asyncio.run(_count(str(data / "store.db"), "_tessera")) == 0
    assert asyncio.run(_count(str(data / "accounts.db"), "_tessera_accounts")) == 1


def test_registered_accounts_never_reach_the_app_store(serve, tmp_path):
    live = serve()
    assert live.client().post("/api/auth/register", json=ACCOUNT).status_code == 201
    assert asyncio.run(_count(str(tmp_path / "data" / "store.db"), "_tessera")) == 0
    assert asyncio.run(_count(str(tmp_path / "data" / "accounts.db"), "_tessera_accounts")) == 1
