"""The WebSocket endpoints through a real server and real WebSocket clients (issue 4)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tessera.settings import Settings
from tests.conftest import start_server, stop_server


@pytest.fixture
def live(serve, corpus):
    return serve(corpus)


def ws_url(server, path: str = "/ws/notifications/_", **query: Any) -> str:
    url = server.url.replace("http://", "ws://") + path
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def open_socket(server, user_id: str, path: str = "/ws/notifications/_", **query: Any):
    """A WebSocket of ``user_id`` authenticated the browser way (subprotocol token)."""
    token = server.token(user_id, **query.pop("claims", {}))
    return connect(ws_url(server, path, **query), subprotocols=["mozaiks", token])


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") != "ping":
            return message


async def nothing_more(ws: ClientConnection, wait: float = 0.3) -> bool:
    try:
        await receive(ws, wait)
    except TimeoutError:
        return True
    return False


def call(client: httpx.Client, plugin: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/execute/{plugin}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_send_to_user_reaches_both_tabs_of_the_user_and_no_one_else(live):
    async with (
        open_socket(live, "alice") as tab1,
        open_socket(live, "alice", "/ws") as tab2,
        open_socket(live, "bob") as bob,
        open_socket(live, "alice", claims={"app_id": "shop"}) as other_app,
    ):
        assert tab1.subprotocol == "mozaiks"
        for ws in (tab1, tab2, bob, other_app):
            assert (await receive(ws))["type"] == "connected"
        with live.client("alice") as alice:
            seq = call(alice, "svc_sender", {"action": "send", "n": 1})["seq"]
        for tab in (tab1, tab2):
            assert await receive(tab) == {"type": "svc_update", "n": 1, "blob": "", "seq": seq}
        assert await nothing_more(bob)
        assert await nothing_more(other_app)


async def test_messages_to_one_connection_arrive_in_order(live):
    async with open_socket(live, "alice") as ws:
        await receive(ws)
        with live.client("alice") as alice:
            for n in range(20):
                call(alice, "svc_sender", {"action": "send", "n": n})
        received = [await receive(ws) for _ in range(20)]
    assert [m["n"] for m in received] == list(range(20))
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(seqs[0], seqs[0] + 20))


async def test_broadcast_reaches_every_connected_user_of_the_app(live):
    async with (
        open_socket(live, "alice") as alice_ws,
        open_socket(live, "bob") as bob_ws,
        open_socket(live, "carol", claims={"app_id": "shop"}) as carol_ws,
    ):
        for ws in (alice_ws, bob_ws, carol_ws):
            await receive(ws)
        with live.client("alice") as alice:
            assert call(alice, "svc_sender", {"action": "broadcast"}) == {"reached": 2}
        assert (await receive(alice_ws))["type"] == "svc_news"
        assert (await receive(bob_ws))["type"] == "svc_news"
        assert await nothing_more(carol_ws)


async def test_token_from_query_parameter_and_authorization_header(live):
    url = ws_url(live, access_token=live.token("alice"))
    async with connect(url) as ws:
        assert (await receive(ws))["type"] == "connected"
    headers = {"Authorization": f"Bearer {live.token('alice')}"}
    async with connect(ws_url(live, "/ws"), additional_headers=headers) as ws:
        assert (await receive(ws))["type"] == "connected"


@pytest.mark.parametrize(
    "subprotocols, query",
    [(None, {}), (["mozaiks", "not-a-token"], {}), (None, {"access_token": "a.b.c"})],
)
async def test_missing_or_bad_token_closes_with_4001(live, subprotocols, query):
    async with connect(ws_url(live, **query), subprotocols=subprotocols) as ws:
        assert await close_code(ws) == 4001


async def test_the_4001_for_no_token_names_the_ways_a_browser_can_send_one(live):
    async with connect(ws_url(live)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001
    reason = closed.value.rcvd.reason
    # A browser can set neither header: the subprotocol and the query parameter come first.
    assert "['mozaiks', <token>]" in reason
    assert "?access_token=" in reason
    assert "Authorization" in reason


async def test_hint_of_another_user_closes_with_4003(live):
    async with open_socket(live, "alice", "/ws/notifications/bob") as ws:
        assert await close_code(ws) == 4003
    async with open_socket(live, "alice", "/ws/notifications/alice") as ws:
        assert (await receive(ws))["type"] == "connected"


@pytest.mark.parametrize("path", ["/ws/notifications/", "/ws/notifications/a/b", "/ws/other"])
async def test_other_socket_paths_are_refused(live, path):
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(live, "alice", path):
            pass
    assert refused.value.response.status_code == 403


async def test_a_fault_of_the_runtime_closes_the_socket_with_1011_and_logs_it(
    live, monkeypatch, caplog
):
    async def broken_open(*args: Any) -> None:
        raise RuntimeError("store on fire")

    monkeypatch.setattr(live.runtime.services.websockets, "open", broken_open)
    async with open_socket(live, "alice") as ws:
        assert await close_code(ws) == 1011
    (record,) = [r for r in caplog.records if r.exc_info and "store on fire" in str(r.exc_info[1])]
    assert record.getMessage() == "unhandled error in WebSocket /ws/notifications/_"


async def test_reconnect_with_last_seq_receives_exactly_the_missed_messages(live):
    with live.client("alice") as alice:
        async with open_socket(live, "alice") as ws:
            await receive(ws)
            first = call(alice, "svc_sender", {"action": "send", "n": 1})["seq"]
            assert (await receive(ws))["seq"] == first
        for n in (2, 3, 4):
            call(alice, "svc_sender", {"action": "send", "n": n})
        async with open_socket(live, "alice", last_seq=first) as ws:
            assert await receive(ws) == {"type": "connected", "last_seq": first}
            missed = [await receive(ws) for _ in range(3)]
            assert [(m["n"], m["seq"]) for m in missed] == [
                (2, first + 1),
                (3, first + 2),
                (4, first + 3),
            ]
            call(alice, "svc_sender", {"action": "send", "n": 5})
            live_one = await receive(ws)
            assert (live_one["n"], live_one["seq"]) == (5, first + 4)
            assert await nothing_more(ws)


async def test_resume_while_messages_keep_coming_has_no_gap_and_no_duplicate(live):
    total = 60
    sent = threading.Event()

    def sender() -> None:
        with live.client("alice") as alice:
            for n in range(total):
                call(alice, "svc_sender", {"action": "send", "n": n})
        sent.set()

    received: list[int] = []
    async with open_socket(live, "alice") as ws:
        start = (await receive(ws))["last_seq"]
        thread = threading.Thread(target=sender)
        thread.start()
        while len(received) < 10:
            received.append((await receive(ws))["seq"])
    # Disconnected while the sender goes on; resume from the last message we have.
    async with open_socket(live, "alice", last_seq=received[-1]) as ws:
        await receive(ws)
        while len(received) < total:
            received.append((await receive(ws))["seq"])
        thread.join()
        assert await nothing_more(ws)
    assert received == list(range(start + 1, start + total + 1))


async def test_resume_window_survives_a_restart(corpus, tmp_path):
    settings = Settings.load({"plugins": corpus, "data": tmp_path / "data"}, environ={})
    first, handle = start_server(settings)
    try:
        with first.client("alice") as alice:
            seqs = [call(alice, "svc_sender", {"action": "send", "n": n})["seq"] for n in range(3)]
    finally:
        stop_server(handle)
    second, handle = start_server(settings)
    try:
        async with open_socket(second, "alice", last_seq=seqs[0]) as ws:
            await receive(ws)
            replay = [await receive(ws) for _ in range(2)]
    finally:
        stop_server(handle)
    assert [m["seq"] for m in replay] == seqs[1:]


async def test_resume_window_is_bounded_and_says_when_messages_were_lost(serve, corpus):
    live = serve(corpus, ws_resume_messages=3)
    with live.client("alice") as alice:
        seqs = [call(alice, "svc_sender", {"action": "send", "n": n})["seq"] for n in range(6)]
    async with open_socket(live, "alice", last_seq=0) as ws:
        await receive(ws)
        notice = await receive(ws)
        assert notice == {"type": "resync", "last_seq": 0, "first_seq": seqs[3]}
        assert [(await receive(ws))["seq"] for _ in range(3)] == seqs[3:]


@pytest.mark.parametrize("last_seq", ["abc", "\u00b2", str(2**63), "-1", "1" * 4301])
async def test_invalid_last_seq_is_refused(live, last_seq):
    async with open_socket(live, "alice", last_seq=last_seq) as ws:
        assert await close_code(ws) == 1008


async def test_heartbeat_pings_and_a_client_that_stops_answering_is_dropped(serve, corpus):
    live = serve(corpus, ws_ping_interval=0.2, ws_ping_timeout=0.3)
    async with open_socket(live, "alice") as quiet, open_socket(live, "bob") as lapsed:
        await receive(quiet)
        await receive(lapsed)
        ping = json.loads(await asyncio.wait_for(lapsed.recv(), 2))
        assert ping == {"type": "ping"}
        await lapsed.send(json.dumps({"type": "pong"}))
        # bob answered once, so he must keep answering; he stops and is dropped.
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(lapsed.recv(), 3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        # A client that never speaks the heartbeat (a reference front end) stays connected.
        assert json.loads(await asyncio.wait_for(quiet.recv(), 2)) == {"type": "ping"}


async def test_client_ping_is_answered(live):
    async with open_socket(live, "alice") as ws:
        await receive(ws)
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}


async def test_a_slow_client_is_disconnected_without_slowing_others(serve, corpus):
    live = serve(corpus, ws_queue_size=4, ws_ping_timeout=2.0)
    websockets = live.runtime.services.websockets
    blob = base64.b64encode(os.urandom(400_000)).decode()
    token = live.token("alice")
    slow = await connect(
        ws_url(live), subprotocols=["mozaiks", token], max_queue=1, compression=None
    )
    async with open_socket(live, "alice") as fast:
        await receive(fast)
        with live.client("alice") as alice:
            for n in range(80):
                call(alice, "svc_sender", {"action": "send", "n": n, "blob": blob})
                assert (await receive(fast))["n"] == n
                if websockets.connection_count("default", "alice") == 1:
                    break
        for _ in range(100):  # a blocked send gives up after ws_ping_timeout
            if websockets.connection_count("default", "alice") == 1:
                break
            await asyncio.sleep(0.05)
        assert websockets.connection_count("default", "alice") == 1
        # The slow tab, which never read, finds its connection ended once it catches up.
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 5)
        with live.client("alice") as alice:
            call(alice, "svc_sender", {"action": "send", "n": "after"})
        assert (await receive(fast))["n"] == "after"


async def test_a_last_seq_beyond_the_sequence_starts_afresh_with_a_resync(live):
    with live.client("alice") as alice:
        seq = call(alice, "svc_sender", {"action": "send", "n": 1})["seq"]
        async with open_socket(live, "alice", last_seq=seq + 100) as ws:
            assert await receive(ws) == {"type": "connected", "last_seq": seq}
            assert await receive(ws) == {
                "type": "resync",
                "last_seq": seq + 100,
                "first_seq": seq + 1,
            }
            call(alice, "svc_sender", {"action": "send", "n": 2})
            assert (await receive(ws))["seq"] == seq + 1
