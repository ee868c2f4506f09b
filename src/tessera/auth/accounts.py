"""Local accounts kept in a store collection the plugins can never reach."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from tessera.auth.errors import HashingBusy, InvalidAccount, LoginFailed, UsernameTaken
from tessera.auth.passwords import hash_password, needs_rehash, verify_password

MIN_PASSWORD_LENGTH = 8
# argon2 hashes any length, but an unbounded password is a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_LOGIN_FAILED = "Unknown username or wrong password."
# Only these fields leave the store; the password hash never does.
_PUBLIC_FIELDS = ("user_id", "username", "email", "roles", "is_superadmin")


class AccountStore:
    """Register and authenticate local accounts.

    Usernames are unique regardless of letter case (``Alice`` and ``alice`` are one
    account), and a login gives the same error, in about the same time, for an unknown
    username and a wrong password.

    :param collection: an async store collection, e.g. ``client["_tessera"]["accounts"]``.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._indexed = False
        self._decoy_hash: str | None = None

    async def ensure_indexes(self) -> None:
        """Create the unique indexes on username and user id (idempotent)."""
        await self._collection.create_index("username_key", unique=True)
        await self._collection.create_index("user_id", unique=True)
        self._indexed = True

    async def register(
        self, username: str, password: str, *, email: str | None = None
    ) -> dict[str, Any]:
        """Create an account; ``InvalidAccount`` for bad input, ``UsernameTaken`` for a
        username already in use. Returns the public account fields."""
        _validate(username, password, email)
        if not self._indexed:
            await self.ensure_indexes()
        account: dict[str, Any] = {
            "user_id": str(ObjectId()),
            "username": username,
            "username_key": username.casefold(),
            "email": email,
            "password_hash": await hash_password(password),
            "roles": [],
            "is_superadmin": False,
            "created_at": datetime.now(UTC),
        }
        try:
            await self._collection.insert_one(account)
        except DuplicateKeyError:
            raise UsernameTaken(
                f"The username {username!r} is already taken; choose another.", field="username"
            ) from None
        return _public(account)

    async def authenticate(self, username: str, password: str) -> dict[str, Any]:
        """The public fields of the account whose password matches; ``LoginFailed``
        otherwise, the same for an unknown username and a wrong password."""
        account = None
        if isinstance(username, str) and _USERNAME.fullmatch(username):
            account = await self._collection.find_one({"username_key": username.casefold()})
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            password = ""
        if account is None:
            # Spend the same hashing time as a real check, so timing does not reveal
            # which usernames exist.
            await verify_password(await self._decoy(), password)
            raise LoginFailed(_LOGIN_FAILED)
        if not await verify_password(account["password_hash"], password):
            raise LoginFailed(_LOGIN_FAILED)
        if needs_rehash(account["password_hash"]):
            # A chance, not a duty: when hashing is busy, the next login upgrades it.
            with contextlib.suppress(HashingBusy):
                await self._collection.update_one(
                    {"user_id": account["user_id"]},
                    {"$set": {"password_hash": await hash_password(password)}},
                )
        return _public(account)

    async def get(self, user_id: str) -> dict[str, Any] | None:
        """The public fields of the account with ``user_id``, or None."""
        account = await self._collection.find_one({"user_id": user_id})
        return None if account is None else _public(account)

    async def adopt(self, account: dict[str, Any]) -> int:
        """Store an account document as it is (one moved from another store); 1 if stored,
        0 if this store already holds its user id or username."""
        try:
            await self._collection.insert_one(account)
        except DuplicateKeyError:
            return 0
        return 1

    async def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await hash_password(str(ObjectId()))
        return self._decoy_hash


def _public(account: dict[str, Any]) -> dict[str, Any]:
    return {key: account.get(key) for key in _PUBLIC_FIELDS}


def _validate(username: object, password: object, email: object) -> None:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidAccount(
            "Username must be 3-64 characters of letters, digits and _ . - @.", field="username"
        )
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidAccount(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters.", field="password"
        )
    if email is not None and (
        not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email)
    ):
        raise InvalidAccount("Email must look like name@example.com.", field="email")
