import re
import time
from typing import Any

import pytest

from tessera.auth import AccountStore, InvalidAccount, LoginFailed, UsernameTaken
from tessera.store import open_client

PUBLIC_FIELDS = {"user_id", "username", "email", "roles", "is_superadmin"}


async def test_register_returns_public_fields_only(accounts: AccountStore) -> None:
    account = await accounts.register("alice", "correct horse", email="alice@example.test")
    assert set(account) == PUBLIC_FIELDS
    assert re.fullmatch(r"[0-9a-f]{24}", account["user_id"])
    assert account["username"] == "alice"
    assert account["email"] == "alice@example.test"
    assert (account["roles"], account["is_superadmin"]) == ([], False)


async def test_password_is_stored_only_as_an_argon2_hash(
    accounts: AccountStore, account_collection: Any
) -> None:
    account = await accounts.register("alice", "correct horse")
    stored = await account_collection.find_one({"user_id": account["user_id"]})
    assert stored["password_hash"].startswith("$argon2id$")
    assert "correct horse" not in str(stored)


async def test_each_account_gets_its_own_user_id(accounts: AccountStore) -> None:
    first = await accounts.register("alice", "password-1")
    second = await accounts.register("bob", "password-2")
    assert first["user_id"] != second["user_id"]


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice"])
async def test_duplicate_username_is_refused_whatever_the_case(
    accounts: AccountStore, taken: str
) -> None:
    await accounts.register("alice", "password-1")
    with pytest.raises(UsernameTaken, match="already taken") as caught:
        await accounts.register(taken, "password-2")
    assert caught.value.field == "username"


@pytest.mark.parametrize(
    ("username", "password", "email", "field"),
    [
        ("ab", "password1", None, "username"),
        ("a" * 65, "password1", None, "username"),
        ("has space", "password1", None, "username"),
        ("semi;colon", "password1", None, "username"),
        ("", "password1", None, "username"),
        (None, "password1", None, "username"),
        ("alice", "short", None, "password"),
        ("alice", "x" * 1025, None, "password"),
        ("alice", 12345678, None, "password"),
        ("alice", "password1", "not-an-email", "email"),
        ("alice", "password1", 42, "email"),
    ],
)
async def test_invalid_registration_is_refused(
    accounts: AccountStore, username: Any, password: Any, email: Any, field: str
) -> None:
    with pytest.raises(InvalidAccount) as caught:
        await accounts.register(username, password, email=email)
    assert caught.value.field == field


@pytest.mark.parametrize("username", ["abc", "a" * 64, "first.last@example-1_x"])
async def test_allowed_username_characters(accounts: AccountStore, username: str) -> None:
    assert (await accounts.register(username, "password1"))["username"] == username


async def test_authenticate_with_the_right_password(accounts: AccountStore) -> None:
    registered = await accounts.register("Alice", "correct horse")
    account = await accounts.authenticate("alice", "correct horse")
    assert account == registered


async def test_wrong_password_and_unknown_user_fail_alike(accounts: AccountStore) -> None:
    await accounts.register("alice", "correct horse")
    with pytest.raises(LoginFailed) as wrong_password:
        await accounts.authenticate("alice", "wrong horse")
    with pytest.raises(LoginFailed) as unknown_user:
        await accounts.authenticate("mallory", "correct horse")
    with pytest.raises(LoginFailed) as malformed_user:
        await accounts.authenticate("no such user!", "correct horse")
    assert str(wrong_password.value) == str(unknown_user.value) == str(malformed_user.value)


async def test_unknown_user_costs_a_password_check_too(accounts: AccountStore) -> None:
    # Without the decoy check an unknown user would answer ~100x faster than a wrong
    # password, telling an attacker which usernames exist.
    await accounts.register("alice", "correct horse")

    async def seconds(username: str) -> float:
        start = time.perf_counter()
        with pytest.raises(LoginFailed):
            await accounts.authenticate(username, "wrong horse")
        return time.perf_counter() - start

    await seconds("mallory")  # the first unknown user also builds the decoy hash
    assert await seconds("mallory") > 0.3 * await seconds("alice")


async def test_outdated_hash_is_upgraded_on_login(
    accounts: AccountStore, account_collection: Any
) -> None:
    from argon2 import PasswordHasher

    account = await accounts.register("alice", "correct horse")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    await account_collection.update_one(
        {"user_id": account["user_id"]}, {"$set": {"password_hash": weak}}
    )
    await accounts.authenticate("alice", "correct horse")
    stored = await account_collection.find_one({"user_id": account["user_id"]})
    assert stored["password_hash"] != weak
    assert stored["password_hash"].startswith("$argon2id$")
    assert (await accounts.authenticate("alice", "correct horse"))["username"] == "alice"


async def test_get_by_user_id(accounts: AccountStore) -> None:
    registered = await accounts.register("alice", "correct horse")
    assert await accounts.get(registered["user_id"]) == registered
    assert await accounts.get("0" * 24) is None


async def test_roles_set_by_an_operator_come_back_from_login(
    accounts: AccountStore, account_collection: Any
) -> None:
    registered = await accounts.register("alice", "correct horse")
    await account_collection.update_one(
        {"user_id": registered["user_id"]}, {"$set": {"roles": ["admin"], "is_superadmin": True}}
    )
    account = await accounts.authenticate("alice", "correct horse")
    assert (account["roles"], account["is_superadmin"]) == (["admin"], True)


async def test_register_creates_indexes_when_the_runtime_did_not() -> None:
    client = open_client("sqlite://:memory:")
    store = AccountStore(client["_tessera"]["accounts"])
    await store.register("alice", "password-1")
    with pytest.raises(UsernameTaken):
        await store.register("alice", "password-2")
    await client.close()
