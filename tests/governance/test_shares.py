"""Shares of the sync-plugin threads: a user or plugin over its share waits for its own."""

from __future__ import annotations

import asyncio

import pytest

from tessera.governance.shares import Quota, ThreadShares, default_shares

ALICE = ("app", "alice")
BOB = ("app", "bob")


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("threads", "shares"), [(32, (8, 16)), (8, (2, 4)), (2, (1, 1)), (1, (1, 1))]
)
def test_default_shares_leave_room_for_other_users_and_plugins(threads, shares):
    assert default_shares(threads) == shares


async def test_a_key_over_its_limit_waits_and_gets_the_next_slot_given_back():
    quota = Quota(2)
    await quota.take("p")
    await quota.take("p")
    third = asyncio.create_task(quota.take("p"))
    await settle()
    assert not third.done()
    await quota.take("q")  # another key is not held up
    quota.give("p")
    await third
    assert quota.held("p") == 2


async def test_waiters_are_served_first_come_first_served():
    quota = Quota(1)
    await quota.take("p")
    order: list[int] = []

    async def wait(n: int) -> None:
        await quota.take("p")
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await settle()
    for _ in range(3):
        quota.give("p")
        await settle()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]


async def test_a_cancelled_waiter_takes_no_slot_and_the_next_one_gets_it():
    quota = Quota(1)
    await quota.take("p")
    gone = asyncio.create_task(quota.take("p"))
    next_one = asyncio.create_task(quota.take("p"))
    await settle()
    gone.cancel()
    await settle()
    quota.give("p")
    await next_one
    assert quota.held("p") == 1
    quota.give("p")
    assert quota.held("p") == 0


async def test_a_waiter_cancelled_as_its_slot_arrives_passes_the_slot_on():
    quota = Quota(1)
    await quota.take("p")
    unlucky = asyncio.create_task(quota.take("p"))
    next_one = asyncio.create_task(quota.take("p"))
    await settle()
    quota.give("p")  # hands the slot to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it runs
    await settle()
    await next_one
    assert unlucky.cancelled()
    assert quota.held("p") == 1


async def test_a_user_over_their_share_holds_nothing_of_the_plugins_share():
    shares = ThreadShares(per_user=1, per_plugin=2)
    await shares.take(ALICE, "p")
    waiting = asyncio.create_task(shares.take(ALICE, "p"))
    await settle()
    assert shares.plugins.held("p") == 1
    await shares.take(BOB, "p")  # the plugin's second thread goes to another user
    assert not waiting.done()
    shares.give(ALICE, "p")
    await waiting
    assert shares.users.held(ALICE) == 1


async def test_a_plugin_over_its_share_does_not_keep_its_users_from_another_plugin():
    shares = ThreadShares(per_user=2, per_plugin=1)
    await shares.take(ALICE, "hangs")
    waiting = asyncio.create_task(shares.take(BOB, "hangs"))
    await settle()
    await shares.take(BOB, "other")
    assert not waiting.done()
    waiting.cancel()
    await settle()
    assert shares.users.held(BOB) == 1  # the cancelled call gave back what it held
