"""``core.config.database.users_collection``: the caller's own user record, read-only.

The reference handed plugins the raw ``users`` collection: every user's record, password
hashes and roles included. Here the collection a plugin sees holds one document, the
caller's, with only ``_id``, ``user_id``, ``username`` and (for local accounts) ``email``;
filters match against that document, and every write is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn

from bson import ObjectId

from tessera.services import running
from tessera.services.database import caller
from tessera.services.unprovided import NotProvided
from tessera.store.query.filters import compile_filter
from tessera.store.query.projection import compile_projection

_READ_ONLY = (
    "users_collection is read-only and holds only the caller's own record (_id, user_id, "
    "username, email): accounts, passwords and roles belong to the runtime; keep a user's "
    "data in your plugin's own collection or in settings_manager"
)


class UserRecords:
    """Where the caller's record comes from: the identity, plus the local account's email."""

    def __init__(self) -> None:
        self._accounts: Any = None

    def start(self, accounts: Any) -> None:
        """Use ``accounts`` (an AccountStore; None in OIDC mode) for the email address."""
        self._accounts = accounts

    def stop(self) -> None:
        self._accounts = None

    async def own(self) -> dict[str, Any]:
        """The caller's record; NotBound with no caller."""
        identity = caller("users_collection").identity
        user_id = identity.user_id
        record: dict[str, Any] = {
            "_id": ObjectId(user_id) if ObjectId.is_valid(user_id) else user_id,
            "user_id": user_id,
            "username": identity.username,
        }
        account = await self._accounts.get(user_id) if self._accounts is not None else None
        if account is not None and account.get("email"):
            record["email"] = account["email"]
        return record


class UsersCollection:
    """A collection of one document, the caller's record: ``find_one``, ``find`` and
    ``count_documents`` match filters against it; anything else raises NotProvided."""

    __slots__ = ()

    async def find_one(
        self, filter: Mapping[str, Any] | None = None, projection: Any = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The caller's record if it matches ``filter``, else None (other users' records are
        not in this collection)."""
        found = await _matching(filter, projection)
        return found[0] if found else None

    def find(
        self, filter: Mapping[str, Any] | None = None, projection: Any = None, **kwargs: Any
    ) -> UserCursor:
        return UserCursor(filter, projection)

    async def count_documents(self, filter: Mapping[str, Any] | None = None, **kwargs: Any) -> int:
        return len(await _matching(filter))

    @property
    def name(self) -> str:
        return "users"

    def __getattr__(self, attribute: str) -> NoReturn:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise NotProvided(f"users_collection.{attribute}: {_READ_ONLY}")

    def __getitem__(self, name: str) -> NoReturn:
        raise NotProvided(f"users_collection[{name!r}]: {_READ_ONLY}")

    def __repr__(self) -> str:
        return "<core.config.database.users_collection: the caller's own record>"


class UserCursor:
    """``find(...)``: chain ``sort/skip/limit``, then ``to_list`` or ``async for``, as with
    a store cursor; it runs when read."""

    def __init__(self, filter: Mapping[str, Any] | None, projection: Any) -> None:
        self._filter, self._projection = filter, projection
        self._skip, self._limit = 0, 0

    def sort(self, *args: Any, **kwargs: Any) -> UserCursor:
        return self

    def skip(self, count: int) -> UserCursor:
        self._skip = count
        return self

    def limit(self, count: int) -> UserCursor:
        self._limit = count
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        found = (await _matching(self._filter, self._projection))[self._skip :]
        for cap in (self._limit, length):
            if cap:
                found = found[:cap]
        return found

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for document in await self.to_list():
            yield document


async def _matching(filter: Mapping[str, Any] | None, projection: Any = None) -> list[dict]:
    """``[record]`` when the caller's record matches ``filter``, else ``[]``."""
    record = await running.current().users.own()
    if not compile_filter(filter)(record):
        return []
    project = compile_projection(projection)
    return [project(record) if project is not None else record]


users_collection = UsersCollection()
