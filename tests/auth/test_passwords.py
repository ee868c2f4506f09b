from tessera.auth import hash_password, verify_password
from tessera.auth.passwords import needs_rehash


async def test_hash_verifies_only_the_right_password() -> None:
    password_hash = await hash_password("correct horse")
    assert password_hash.startswith("$argon2id$")
    assert "correct horse" not in password_hash
    assert await verify_password(password_hash, "correct horse")
    assert not await verify_password(password_hash, "correct horsE")
    assert not needs_rehash(password_hash)


async def test_same_password_hashes_differently_each_time() -> None:
    assert await hash_password("same password") != await hash_password("same password")


async def test_damaged_hash_does_not_verify() -> None:
    assert not await verify_password("not-a-hash", "anything")
