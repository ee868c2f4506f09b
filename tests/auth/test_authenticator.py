from typing import Any

import pytest

from tessera.auth import (
    AccountStore,
    Authenticator,
    InvalidToken,
    LocalTokens,
    MissingCredentials,
    OIDCVerifier,
)


@pytest.fixture
def tokens() -> LocalTokens:
    return LocalTokens(b"s" * 64, default_app_id="app")


@pytest.fixture
def local(tokens: LocalTokens) -> Authenticator:
    return Authenticator(tokens=tokens)


def _oidc(provider: Any) -> OIDCVerifier:
    return OIDCVerifier(
        provider.url, issuer=provider.issuer, audience=provider.audience, default_app_id="app"
    )


@pytest.mark.parametrize("shape", ["Bearer {}", "bearer {}", "BEARER  {} ", "{}", " {}\n"])
async def test_header_and_raw_token_forms(
    local: Authenticator, tokens: LocalTokens, shape: str
) -> None:
    token = tokens.issue("u1")
    assert (await local.authenticate(shape.format(token))).user_id == "u1"


@pytest.mark.parametrize("credentials", [None, "", "   "])
async def test_missing_credentials(local: Authenticator, credentials: str | None) -> None:
    with pytest.raises(MissingCredentials):
        await local.authenticate(credentials)


@pytest.mark.parametrize("credentials", ["Basic dXNlcjpwYXNz", "Bearer a b", "Token abc.def.ghi"])
async def test_other_schemes_and_shapes_are_refused(local: Authenticator, credentials: str) -> None:
    with pytest.raises(InvalidToken):
        await local.authenticate(credentials)


async def test_local_mode(local: Authenticator, tokens: LocalTokens) -> None:
    assert local.mode == "local"
    assert local.tokens is tokens
    assert local.accounts is None
    assert local.allow_registration is True


async def test_oidc_mode_verifies_provider_tokens(provider: Any) -> None:
    auth = Authenticator(oidc=_oidc(provider))
    assert (auth.mode, auth.tokens, auth.accounts) == ("oidc", None, None)
    assert (await auth.authenticate(f"Bearer {provider.token()}")).username == "alice"


async def test_oidc_mode_refuses_local_tokens(provider: Any, tokens: LocalTokens) -> None:
    auth = Authenticator(oidc=_oidc(provider))
    with pytest.raises(InvalidToken):
        await auth.authenticate(tokens.issue("u1"))


def test_exactly_one_mode(provider: Any, tokens: LocalTokens) -> None:
    with pytest.raises(ValueError, match="either"):
        Authenticator()
    with pytest.raises(ValueError, match="either"):
        Authenticator(tokens=tokens, oidc=_oidc(provider))
    with pytest.raises(ValueError, match="OIDC mode has no local accounts"):
        Authenticator(oidc=_oidc(provider), accounts=AccountStore(collection=None))


async def test_token_for_an_account_carries_its_roles(
    local: Authenticator, tokens: LocalTokens
) -> None:
    account = {"user_id": "u1", "username": "alice", "roles": ["admin"], "is_superadmin": True}
    identity = tokens.verify(local.token_for(account))
    assert identity.context() == {
        "app_id": "app",
        "user_id": "u1",
        "username": "alice",
        "roles": ["admin"],
        "is_superadmin": True,
    }
