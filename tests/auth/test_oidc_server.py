"""OIDC mode through a real server: a token verified once is remembered, and still
refused once it expires or its key leaves the provider's JWKS."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.auth import oidc as oidc_module

# The ``provider`` fixture (conftest.py) serves a JWKS and signs tokens.
Provider = Any
LEEWAY = 30  # OIDCVerifier's default: tolerated clock skew on exp


@pytest.fixture
def live(serve: Callable[..., Any], provider: Provider, tmp_path: Path) -> Any:
    folder = tmp_path / "plugins" / "whoami"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(
        "async def execute(data):\n    return {'user_id': data['user_id']}\n"
    )
    return serve(
        tmp_path / "plugins",
        auth_mode="oidc",
        oidc_jwks_url=provider.url,
        oidc_issuer=provider.issuer,
        oidc_audience=provider.audience,
    )


def call(live: Any, token: str) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/execute/whoami", json={}, headers={"Authorization": f"Bearer {token}"}
    )


def test_a_remembered_token_is_refused_once_expired(live: Any, provider: Provider) -> None:
    # Valid for about 3 more seconds, counting the leeway the verifier grants.
    expires = int(time.time()) - LEEWAY + 3
    token = provider.token(exp=expires)
    assert call(live, token).status_code == 200
    assert call(live, token).status_code == 200  # remembered
    time.sleep(max(0.0, expires + LEEWAY - time.time()) + 0.2)
    refused = call(live, token)
    assert refused.status_code == 401
    assert "expired" in refused.text
    assert provider.fetches == 1


def test_a_withdrawn_key_stops_verifying_when_the_keys_are_next_refetched(
    live: Any, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MAX_AGE_SECONDS", 1.0)
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    old = provider.token()
    assert call(live, old).status_code == 200
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.publish(("rsa-2", new_key))
    # The keys are fresh for a second more: the policy keeps the remembered token.
    assert call(live, old).status_code == 200
    assert provider.fetches == 1
    time.sleep(1.1)
    # Only remembered tokens arrive, and they alone make the stale keys refetch.
    refused = call(live, old)
    assert refused.status_code == 401
    assert "unknown key" in refused.text
    assert provider.fetches >= 2
    assert call(live, provider.token(key=new_key, kid="rsa-2")).status_code == 200


def test_a_key_replaced_under_the_same_kid_stops_verifying(
    live: Any, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MAX_AGE_SECONDS", 1.0)
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    old = provider.token()
    assert call(live, old).status_code == 200
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.publish(("rsa-1", new_key))
    time.sleep(1.1)
    refused = call(live, old)
    assert refused.status_code == 401
    assert "does not verify" in refused.text
    assert call(live, provider.token(key=new_key)).status_code == 200


def test_a_new_kid_makes_the_server_refetch_the_keys(
    live: Any, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFRESH_SECONDS", 0.0)
    old = provider.token()
    assert call(live, old).status_code == 200
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.publish(("rsa-1", provider.rsa_key), ("rsa-2", new_key))
    answer = call(live, provider.token({"sub": "user-7"}, key=new_key, kid="rsa-2"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_id"] == "user-7"
    assert provider.fetches == 2
    assert call(live, old).status_code == 200  # a key still published keeps its tokens
    assert provider.fetches == 2
