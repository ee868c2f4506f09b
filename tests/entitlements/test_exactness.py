"""Limits are charged exactly under concurrency, and a failing store never lets a call
through uncounted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer


async def charge_concurrently(urls: list[str], token: str, calls: int) -> Counter[int]:
    """``calls`` charging calls at once, spread over ``urls``; their status codes."""
    limits = httpx.Limits(max_connections=calls)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/api/execute/notes", json={"action": "create_slowly"}
                )
                for i in range(calls)
            )
        )
    return Counter(a.status_code for a in answers)


def test_200_concurrent_calls_against_a_limit_of_50_charge_exactly_50(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    statuses = asyncio.run(charge_concurrently([live.url], live.token("ann", plan="pro"), 200))
    assert statuses == {200: 50, 429: 150}
    with live.client("ann", plan="pro") as ann:
        usage = ann.post("/api/execute/notes", json={"action": "list"}).json()
    assert usage["entitlements"]["limits"]["notes_per_month"]["used"] == 50


def test_the_charges_are_in_the_store_for_the_next_server(
    planned: Callable[..., LiveServer],
) -> None:
    first = planned()
    with first.client("ann", plan="free") as ann:
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 200
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 200
    data = first.settings.data
    second = planned(data=data)
    with second.client("ann", plan="free") as ann:
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 429


def test_a_store_failure_during_the_check_is_503_never_a_free_call(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    live.runtime.store.engine.close()
    # A token without a plan: the subscription record cannot be read.
    with live.client("ann") as ann:
        answer = ann.post("/api/execute/notes", json={"action": "create"})
        assert answer.status_code == 503
        assert answer.json()["error_code"] == "entitlements_unavailable"
        assert answer.headers["Retry-After"] == "5"
        assert ann.get("/api/plugins").status_code == 503
    # A plan in the token: the usage counter cannot be read.
    with live.client("bob", plan="pro") as bob:
        answer = bob.post("/api/execute/notes", json={"action": "create"})
        assert answer.status_code == 503
        assert answer.json()["error_code"] == "entitlements_unavailable"
