import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.auth import ExpiredToken, InvalidClaims, InvalidToken, OIDCVerifier
from tessera.auth import oidc as oidc_module

# The ``provider`` fixture (conftest.py) serves a JWKS and signs tokens.
Provider = Any


def _verifier(provider: Provider, **options: object) -> OIDCVerifier:
    return OIDCVerifier(
        provider.url,
        issuer=provider.issuer,
        audience=provider.audience,
        default_app_id="default-app",
        **options,
    )


def _segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


async def test_rs256_token_maps_to_an_identity(provider: Provider) -> None:
    token = provider.token({"roles": ["editor"], "app_id": "shop"})
    identity = await _verifier(provider).verify(token)
    assert identity.user_id == "user-42"
    assert identity.username == "alice"
    assert identity.roles == ("editor",)
    assert identity.app_id == "shop"
    assert identity.is_superadmin is False


async def test_es256_token_is_accepted(provider: Provider) -> None:
    token = provider.token(key=provider.ec_key, kid="ec-1", algorithm="ES256")
    assert (await _verifier(provider).verify(token)).user_id == "user-42"


async def test_configured_claims_with_dotted_paths(provider: Provider) -> None:
    verifier = _verifier(
        provider,
        user_id_claim="oid",
        username_claim="email",
        roles_claim="realm_access.roles",
        superadmin_claim="ext.tessera.superadmin",
        app_id_claim="tenant",
    )
    token = provider.token(
        {
            "oid": "object-7",
            "email": "bob@example.test",
            "realm_access": {"roles": ["admin", "billing"]},
            "ext": {"tessera": {"superadmin": True}},
            "tenant": "acme",
        }
    )
    identity = await verifier.verify(token)
    assert identity.context() == {
        "app_id": "acme",
        "user_id": "object-7",
        "username": "bob@example.test",
        "roles": ["admin", "billing"],
        "is_superadmin": True,
    }


async def test_audience_list_containing_ours_is_accepted(provider: Provider) -> None:
    token = provider.token(aud=["other-api", provider.audience])
    assert (await _verifier(provider).verify(token)).user_id == "user-42"


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"iss": "https://evil.example.test"}, InvalidClaims, "issuer"),
        ({"aud": "another-api"}, InvalidClaims, "audience"),
        ({"iss": None}, InvalidClaims, "iss"),
        ({"aud": None}, InvalidClaims, "aud"),
        ({"exp": None}, InvalidClaims, "exp"),
        ({"sub": None}, InvalidClaims, "user id"),
        ({"exp": int(time.time()) - 3600}, ExpiredToken, "expired"),
    ],
)
async def test_bad_claims_are_refused(
    provider: Provider, overrides: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        await _verifier(provider).verify(provider.token(**overrides))


async def test_unknown_kid_is_refused(provider: Provider) -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        await _verifier(provider).verify(provider.token(kid="never-published"))


async def test_token_signed_by_another_key_under_a_known_kid_is_refused(
    provider: Provider,
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidToken, match="signature"):
        await _verifier(provider).verify(provider.token(key=impostor, kid="rsa-1"))


async def test_alg_none_is_refused(provider: Provider) -> None:
    claims = jwt.decode(provider.token(), options={"verify_signature": False})
    unsigned = f"{_segment({'alg': 'none', 'kid': 'rsa-1'})}.{_segment(claims)}."
    with pytest.raises(InvalidToken):
        await _verifier(provider).verify(unsigned)


async def test_hs256_signed_with_the_public_key_is_refused(provider: Provider) -> None:
    # The classic key-confusion attack: HMAC keyed with the provider's public key.
    public_pem = provider.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(provider.token(), options={"verify_signature": False})
    signing_input = f"{_segment({'alg': 'HS256', 'kid': 'rsa-1'})}.{_segment(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken):
        await _verifier(provider).verify(forged)


async def test_header_alg_must_match_the_key(provider: Provider) -> None:
    # An ES256 header naming the RSA key: allowed algorithm, wrong key type.
    token = provider.token(key=provider.ec_key, kid="rsa-1", algorithm="ES256")
    with pytest.raises(InvalidToken):
        await _verifier(provider).verify(token)


async def test_malformed_token_is_refused(provider: Provider) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        await _verifier(provider).verify("not.a.token")


def test_symmetric_or_none_algorithms_cannot_be_configured(provider: Provider) -> None:
    for algorithms in (["HS256"], ["RS256", "none"], []):
        with pytest.raises(ValueError, match="asymmetric"):
            _verifier(provider, algorithms=algorithms)


async def test_keys_are_fetched_once_and_verified_tokens_cached(provider: Provider) -> None:
    verifier = _verifier(provider)
    for _ in range(3):
        await verifier.verify(provider.token({"n": _}))
    assert provider.fetches == 1


async def test_rotated_key_is_fetched_on_unknown_kid(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    verifier = _verifier(provider)
    await verifier.verify(provider.token())
    provider.publish(("ec-2", provider.ec_key))
    identity = await verifier.verify(
        provider.token(key=provider.ec_key, kid="ec-2", algorithm="ES256")
    )
    assert identity.user_id == "user-42"
    assert provider.fetches == 2


async def test_unknown_kids_do_not_flood_the_provider(provider: Provider) -> None:
    verifier = _verifier(provider)
    for n in range(5):
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(provider.token(kid=f"forged-{n}"))
    assert provider.fetches == 1


async def test_provider_down_gives_a_clear_auth_error(provider: Provider) -> None:
    provider.down = True
    with pytest.raises(InvalidToken, match="unavailable"):
        await _verifier(provider).verify(provider.token())


async def test_concurrent_first_requests_share_one_fetch(provider: Provider) -> None:
    provider.delay = 0.2
    verifier = _verifier(provider)
    tokens = [provider.token({"n": n}) for n in range(5)]
    identities = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert {i.user_id for i in identities} == {"user-42"}
    assert provider.fetches == 1


async def test_fetching_keys_does_not_block_the_event_loop(provider: Provider) -> None:
    provider.delay = 0.3
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await _verifier(provider).verify(provider.token())
    task.cancel()
    assert ticks >= 10


async def test_stale_keys_are_refetched(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MAX_AGE_SECONDS", 0.0)
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    verifier = _verifier(provider)
    await verifier.verify(provider.token({"n": 1}))
    await verifier.verify(provider.token({"n": 2}))
    assert provider.fetches == 2


async def test_provider_outage_keeps_the_known_keys(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MAX_AGE_SECONDS", 0.0)
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    verifier = _verifier(provider)
    await verifier.verify(provider.token({"n": 1}))
    provider.down = True
    assert (await verifier.verify(provider.token({"n": 2}))).user_id == "user-42"
    assert provider.fetches == 2
