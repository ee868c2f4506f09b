"""Login and registration under a spray, through a real server socket.

Clients are told apart by the address a trusted proxy names (the test client connects
from 127.0.0.1, trusted by default), as behind a reverse proxy in production.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from argon2 import PasswordHasher

from tessera.auth import passwords
from tessera.auth.passwords import HashingThreads
from tessera.governance.rates import Rate
from tessera.http import auth as http_auth
from tessera.http.auth import LOGIN_ADDRESS_RATE, LOGIN_RATE, REGISTER_RATE

SPRAYER = "203.0.113.5"
ELSEWHERE = "198.51.100.7"
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """argon2 at its cheapest: these tests count requests, not hashing time."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def post(url: str, path: str, body: dict, address: str) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers={"X-Forwarded-For": address})


def login(url: str, username: str, address: str, password: str = PASSWORD) -> httpx.Response:
    return post(url, "/api/auth/login", {"username": username, "password": password}, address)


def register(url: str, username: str, address: str) -> httpx.Response:
    return post(url, "/api/auth/register", {"username": username, "password": PASSWORD}, address)


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["error_code"] == code
    assert body["error"] and body["request_id"]


def test_a_login_spray_from_one_address_is_refused_while_other_addresses_log_in(serve, monkeypatch):
    # The real limit refills one a second, faster than a slow machine sprays: this one
    # refills too slowly to matter within the test.
    assert LOGIN_ADDRESS_RATE.requests > LOGIN_RATE.requests  # above one username's limit
    monkeypatch.setattr(http_auth, "LOGIN_ADDRESS_RATE", Rate(20, 3600.0))
    live = serve()
    assert register(live.url, "alice", ELSEWHERE).status_code == 201
    sprayed = {login(live.url, f"user{n}", SPRAYER, "wrong guess").status_code for n in range(20)}
    assert sprayed == {401}
    assert_refused(login(live.url, "someone-new", SPRAYER), 429, "rate_limited")
    assert login(live.url, "alice", SPRAYER).status_code == 429  # even with the right password
    assert login(live.url, "alice", ELSEWHERE).status_code == 200


def test_one_usernames_limit_still_holds_below_the_addresss(serve):
    live = serve()
    assert register(live.url, "alice", ELSEWHERE).status_code == 201
    guesses = {
        login(live.url, "alice", SPRAYER, "wrong guess").status_code
        for _ in range(LOGIN_RATE.requests)
    }
    assert guesses == {401}
    assert login(live.url, "alice", SPRAYER).status_code == 429
    assert login(live.url, "bob", SPRAYER).status_code == 401  # the address may go on


def test_registrations_from_one_address_are_limited(serve):
    live = serve()
    made = {
        register(live.url, f"user{n}", SPRAYER).status_code for n in range(REGISTER_RATE.requests)
    }
    assert made == {201}
    assert_refused(register(live.url, "one-more", SPRAYER), 429, "rate_limited")
    assert register(live.url, "one-more", ELSEWHERE).status_code == 201


def test_password_hashing_past_its_bound_answers_503_with_retry_after(serve, monkeypatch):
    bound = HashingThreads(threads=1, waiting=1)
    monkeypatch.setattr(passwords, "hashing", bound)
    live = serve()
    assert register(live.url, "alice", ELSEWHERE).status_code == 201
    release = threading.Event()
    held = [bound.submit(release.wait) for _ in range(2)]  # one hashing, one in line: full
    try:
        assert_refused(login(live.url, "alice", ELSEWHERE), 503, "busy")
        assert_refused(register(live.url, "bob", ELSEWHERE), 503, "busy")
    finally:
        release.set()
    assert [future.result() for future in held] == [True, True]
    assert login(live.url, "alice", ELSEWHERE).status_code == 200
