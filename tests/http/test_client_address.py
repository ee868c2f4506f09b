"""The client's address behind a reverse proxy, through a real server socket.

`tessera serve` leaves X-Forwarded-For to the routes that read the address: login's rate
limit, per client and username. These tests run the server as `tessera serve` does.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tessera.http.auth import LOGIN_RATE


def guess(base_url: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/auth/login",
        json={"username": "alice", "password": "wrong guess"},
        headers={"X-Forwarded-For": forwarded_for},
    )


def exhaust_budget(base_url: str, forwarded_for: str) -> float:
    """Guess until refused: the budget's guesses, plus those its refill gave back while
    the machine hashed them (one every 6 s; a loaded machine takes seconds for ten)."""
    httpx.post(
        f"{base_url}/api/auth/register", json={"username": "alice", "password": "correct horse"}
    ).raise_for_status()
    started = time.monotonic()
    statuses = {guess(base_url, forwarded_for).status_code for _ in range(LOGIN_RATE.requests)}
    assert statuses == {401}
    guesses = LOGIN_RATE.requests
    while guesses <= LOGIN_RATE.requests + refilled_since(started):
        if guess(base_url, forwarded_for).status_code == 429:
            return time.monotonic()
        guesses += 1
    pytest.fail(f"{guesses} guesses and none refused")


def still_refused(base_url: str, forwarded_for: str, refused_at: float) -> bool:
    """Whether this client shares the exhausted budget: refused, once what the refill gave
    back since ``refused_at`` is spent (a fresh budget would allow ten guesses)."""
    guesses = 0
    while guesses <= refilled_since(refused_at) + 1:  # +1: the refill under way at refused_at
        if guess(base_url, forwarded_for).status_code == 429:
            return True
        guesses += 1
    return False


def refilled_since(started: float) -> int:
    return int((time.monotonic() - started) * LOGIN_RATE.requests / LOGIN_RATE.period)


def test_a_trusted_proxy_names_the_client_so_each_client_has_its_own_login_budget(serve):
    live = serve()  # the test client connects from 127.0.0.1, trusted by default
    exhaust_budget(live.url, "203.0.113.5")
    assert guess(live.url, "198.51.100.7").status_code == 401


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(serve):
    live = serve(forwarded_allow_ips="10.9.9.9")
    refused_at = exhaust_budget(live.url, "203.0.113.5")
    assert still_refused(live.url, "198.51.100.7", refused_at)


def test_a_trusted_network_names_the_client_like_a_trusted_address(serve):
    live = serve(forwarded_allow_ips="127.0.0.0/8")
    exhaust_budget(live.url, "203.0.113.5")
    assert guess(live.url, "198.51.100.7").status_code == 401


def test_addresses_a_client_forges_before_the_proxys_entry_do_not_buy_a_new_budget(serve):
    # nginx appends the peer it saw ($proxy_add_x_forwarded_for): the last entry is the
    # client, whatever the client wrote in front of it.
    live = serve()
    refused_at = exhaust_budget(live.url, "203.0.113.5")
    assert still_refused(live.url, "192.0.2.1, 203.0.113.5", refused_at)
