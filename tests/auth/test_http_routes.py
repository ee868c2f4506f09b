"""The auth routes, driven in-process through a minimal Starlette app."""

import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from tessera.auth import AccountStore, Authenticator, LocalTokens, OIDCVerifier
from tessera.governance import Governor
from tessera.http.auth import LOGIN_RATE, auth_routes
from tessera.http.errors import HTTPError
from tessera.settings import Settings

MAX_BODY = 4096


def _app(auth: Authenticator) -> Starlette:
    async def render(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPError)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    app = Starlette(routes=auth_routes(), exception_handlers={HTTPError: render})
    app.state.runtime = SimpleNamespace(
        auth=auth,
        settings=SimpleNamespace(max_body_bytes=MAX_BODY),
        executor=SimpleNamespace(governor=Governor(Settings.load({}, environ={}))),
    )
    return app


async def _client(auth: Authenticator) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(auth))
    return httpx.AsyncClient(transport=transport, base_url="http://tessera.test")


@pytest.fixture
def local_auth(accounts: AccountStore) -> Authenticator:
    tokens = LocalTokens(b"s" * 64, default_app_id="app", ttl_seconds=3600)
    return Authenticator(tokens=tokens, accounts=accounts)


@pytest.fixture
async def client(local_auth: Authenticator) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(local_auth) as client:
        yield client


async def _register(client: httpx.AsyncClient, username: str = "alice") -> dict[str, Any]:
    response = await client.post(
        "/api/auth/register", json={"username": username, "password": "correct horse"}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_register_then_me(client: httpx.AsyncClient) -> None:
    registered = await _register(client)
    assert registered["username"] == "alice"
    assert registered["token_type"] == "bearer"
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {registered['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == {
        "app_id": "app",
        "user_id": registered["user_id"],
        "username": "alice",
        "roles": [],
        "is_superadmin": False,
    }


async def test_login_with_json(client: httpx.AsyncClient) -> None:
    registered = await _register(client)
    response = await client.post(
        "/api/auth/login", json={"username": "alice", "password": "correct horse"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == registered["user_id"]
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["user_id"] == registered["user_id"]


async def test_login_with_oauth2_password_form(client: httpx.AsyncClient) -> None:
    await _register(client)
    response = await client.post(
        "/api/auth/login",
        data={"grant_type": "password", "username": "alice", "password": "correct horse"},
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_login_failures_are_401_with_one_message(client: httpx.AsyncClient) -> None:
    await _register(client)
    wrong = await client.post(
        "/api/auth/login", json={"username": "alice", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"username": "eve", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error_code"] == "login_failed"


async def test_duplicate_registration_is_a_clear_client_error(client: httpx.AsyncClient) -> None:
    await _register(client)
    response = await client.post(
        "/api/auth/register", json={"username": "Alice", "password": "another password"}
    )
    assert response.status_code == 409
    assert response.json()["error_code"] == "username_taken"
    assert "already taken" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "al", "password": "correct horse"}, "username"),
        ({"username": "alice", "password": "short"}, "password"),
        ({"username": "alice"}, "password"),
        ({"password": "correct horse"}, "username"),
        ({"username": ["alice"], "password": "correct horse"}, "username"),
        ({"username": "alice", "password": "correct horse", "email": "nope"}, "email"),
    ],
)
async def test_invalid_registration_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict, field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


async def test_malformed_and_oversized_bodies(client: httpx.AsyncClient) -> None:
    not_json = await client.post(
        "/api/auth/login", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    not_object = await client.post("/api/auth/register", json=["alice"])
    assert not_object.status_code == 400
    huge = await client.post(
        "/api/auth/register", json={"username": "alice", "password": "x" * MAX_BODY}
    )
    assert huge.status_code == 413


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_me_without_a_valid_token_is_401(client: httpx.AsyncClient, headers: dict) -> None:
    response = await client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error_code"] == "unauthorized"


async def test_registration_can_be_disabled(local_auth: Authenticator) -> None:
    local_auth.allow_registration = False
    async with await _client(local_auth) as client:
        response = await client.post(
            "/api/auth/register", json={"username": "alice", "password": "correct horse"}
        )
    assert response.status_code == 403
    assert "disabled" in response.json()["error"]


async def test_oidc_mode_has_no_register_or_login_but_has_me(provider: Any) -> None:
    verifier = OIDCVerifier(
        provider.url, issuer=provider.issuer, audience=provider.audience, default_app_id="app"
    )
    async with await _client(Authenticator(oidc=verifier)) as client:
        for path in ("/api/auth/register", "/api/auth/login"):
            response = await client.post(path, json={"username": "alice", "password": "x" * 8})
            assert response.status_code == 404
            assert "OIDC" in response.json()["error"]
        me = await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {provider.token()}"}
        )
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


async def test_password_guessing_is_throttled_per_username(client: httpx.AsyncClient) -> None:
    await _register(client)
    started = time.monotonic()
    guesses = [
        await client.post("/api/auth/login", json={"username": "alice", "password": f"guess{i}"})
        for i in range(LOGIN_RATE.requests)
    ]
    assert {r.status_code for r in guesses} == {401}
    # A loaded machine hashing slowly gets a guess back every 6 s: those are spent too.
    refilled = (time.monotonic() - started) * LOGIN_RATE.requests / LOGIN_RATE.period
    for i in range(int(refilled) + 1):
        wrong = {"username": "alice", "password": f"more{i}"}
        if (await client.post("/api/auth/login", json=wrong)).status_code == 429:
            break
    throttled = await client.post(
        "/api/auth/login", json={"username": "alice", "password": "correct horse"}
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    await _register(client, "bob")
    other = await client.post(
        "/api/auth/login", json={"username": "bob", "password": "correct horse"}
    )
    assert other.status_code == 200
