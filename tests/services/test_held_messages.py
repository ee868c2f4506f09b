"""The outage outbox of WebSocket messages: numbered after what the process knows,
bounded, the oldest dropped past the bound, counted and logged."""

from __future__ import annotations

import logging

import pytest

from tessera.services.fanout.held import HeldMessages


def test_messages_are_numbered_after_the_last_known_one_per_user():
    held = HeldMessages()
    held.saw("app", "ann", 41)
    assert held.number("app", "ann", '{"n":1}', "id1") == 42
    assert held.number("app", "ann", '{"n":2}', "id2") == 43
    assert held.number("app", "bob", '{"n":1}', "id3") == 1
    assert held.number("other", "ann", '{"n":1}', "id4") == 1
    assert held.since("app", "ann", 42, None) == [(43, '{"n":2}')]
    # The fan-out asks once whether a message was numbered here.
    assert held.holds("app", "ann", 43) and not held.holds("app", "ann", 43)


def test_past_the_bound_the_oldest_go_counted_and_logged(caplog: pytest.LogCaptureFixture):
    held = HeldMessages(limit=3)
    with caplog.at_level(logging.WARNING, "tessera.websocket"):
        for n in range(1, 6):
            held.number("app", "ann", f'{{"n":{n}}}', f"id{n}")
    assert len(held) == 3 and held.dropped == 2
    assert [m.seq for m in held.oldest(10)] == [3, 4, 5]
    assert "dropped from the outage outbox" in caplog.text
    # Handing over forgets only the message handed over.
    first = held.oldest(1)[0]
    held.handed_over(first)
    held.handed_over(first)
    assert [m.seq for m in held.oldest(10)] == [4, 5]
