import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.auth import ExpiredToken, InvalidClaims, InvalidToken, LocalTokens

SECRET = b"k" * 64


@pytest.fixture
def tokens() -> LocalTokens:
    return LocalTokens(SECRET, default_app_id="default-app")


def _segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _claims(**extra: object) -> dict:
    now = int(time.time())
    return {"sub": "u1", "iat": now, "exp": now + 300, **extra}


def test_round_trip_carries_every_claim(tokens: LocalTokens) -> None:
    token = tokens.issue(
        "u1", username="alice", roles=["admin", "editor"], superadmin=True, app_id="shop"
    )
    identity = tokens.verify(token)
    assert identity.user_id == "u1"
    assert identity.username == "alice"
    assert identity.roles == ("admin", "editor")
    assert identity.is_superadmin is True
    assert identity.app_id == "shop"


def test_defaults_username_app_and_lifetime(tokens: LocalTokens) -> None:
    token = tokens.issue("u1")
    identity = tokens.verify(token)
    assert (identity.username, identity.app_id, identity.roles) == ("u1", "default-app", ())
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 86400
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_ttl_override(tokens: LocalTokens) -> None:
    claims = jwt.decode(tokens.issue("u1", ttl_seconds=60), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60


def test_expired_token_is_refused(tokens: LocalTokens) -> None:
    with pytest.raises(ExpiredToken):
        tokens.verify(tokens.issue("u1", ttl_seconds=-10))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "....", "Bearer x.y.z"])
def test_malformed_token_is_refused(tokens: LocalTokens, token: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_token_signed_with_another_secret_is_refused(tokens: LocalTokens) -> None:
    forged = LocalTokens(b"x" * 64, default_app_id="default-app").issue("u1")
    with pytest.raises(InvalidToken, match="signature") as refused:
        tokens.verify(forged)
    # The usual cause: a token minted with another --data than the server's.
    assert "signed by the secret in the server's data folder" in str(refused.value)


def test_tampered_payload_is_refused_even_after_the_original_was_cached(
    tokens: LocalTokens,
) -> None:
    token = tokens.issue("u1")
    tokens.verify(token)
    header, _, signature = token.split(".")
    tampered = ".".join([header, _segment(_claims(sub="u2", is_superadmin=True)), signature])
    with pytest.raises(InvalidToken):
        tokens.verify(tampered)


def test_alg_none_is_refused(tokens: LocalTokens) -> None:
    unsigned = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims())}."
    with pytest.raises(InvalidToken, match="HS256"):
        tokens.verify(unsigned)


def test_hs512_with_the_right_secret_is_refused(tokens: LocalTokens) -> None:
    with pytest.raises(InvalidToken, match="HS256"):
        tokens.verify(jwt.encode(_claims(), SECRET, algorithm="HS512"))


def test_rs256_token_is_refused(tokens: LocalTokens, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidToken, match="HS256"):
        tokens.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256"))


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_token_without_subject_or_expiry_is_refused(tokens: LocalTokens, missing: str) -> None:
    claims = _claims()
    del claims[missing]
    with pytest.raises(InvalidClaims, match=missing):
        tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_cached_token_still_expires(tokens: LocalTokens) -> None:
    token = tokens.issue("u1", ttl_seconds=1)
    assert tokens.verify(token).user_id == "u1"
    expires_at = jwt.decode(token, SECRET, algorithms=["HS256"])["exp"]
    time.sleep(max(0.0, expires_at - time.time()) + 0.01)
    with pytest.raises(ExpiredToken):
        tokens.verify(token)


def test_cache_makes_repeated_verification_much_cheaper() -> None:
    uncached = LocalTokens(SECRET, default_app_id="a", cache_size=0)
    cached = LocalTokens(SECRET, default_app_id="a")
    token = cached.issue("u1", roles=["admin"])
    cached.verify(token)

    def per_call(verifier: LocalTokens, n: int = 2000) -> float:
        start = time.perf_counter()
        for _ in range(n):
            verifier.verify(token)
        return (time.perf_counter() - start) / n

    assert per_call(cached) * 3 < per_call(uncached)
