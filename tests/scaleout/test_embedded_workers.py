"""``tessera serve --workers 2`` with the embedded store and no Redis: one port, two
processes sharing what they must through the data folder (cluster/shared.py).

A test reaches a chosen worker through a kept-alive connection that worker accepted
(``Worker``), opened for that test; where it matters, the answers name the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tessera.runtime import local_tokens
from tessera.settings import Settings
from tests.scaleout.conftest import PLUGINS, eventually
from tests.test_cli import free_port, wait_healthy


@dataclass
class Worker:
    """One worker, reached through a connection it accepted."""

    pid: int
    http: httpx.Client
    settings: Settings

    def headers(self, user_id: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {local_tokens(self.settings).issue(user_id, **claims)}"}

    def call(
        self, user_id: str, plugin: str, *, app_id: str | None = None, **body: Any
    ) -> httpx.Response:
        headers = self.headers(user_id, app_id=app_id)
        return self.http.post(f"/api/execute/{plugin}", json=body, headers=headers)

    def admin(self, path: str) -> httpx.Response:
        headers = self.headers("root", superadmin=True)
        return self.http.post(f"/api/admin/plugins/{path}", headers=headers)

    def answering_pid(self) -> int:
        return int(self.call("probe", "relay", action="pid").json()["pid"])


@dataclass
class Server:
    url: str
    folder: Path
    settings: Settings


@dataclass
class Workers(Server):
    a: Worker
    b: Worker

    @property
    def handled(self) -> list[tuple[str, int, str]]:
        log = self.folder / "handled.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [(kind, int(pid), n) for kind, pid, n in (line.split() for line in lines)]

    def ws_url(self, user_id: str, *, app_id: str | None = None, **query: Any) -> str:
        token = local_tokens(self.settings).issue(user_id, app_id=app_id)
        params = "&".join(f"{k}={v}" for k, v in {"access_token": token, **query}.items())
        return f"ws{self.url.removeprefix('http')}/ws/notifications/_?{params}"


def pin_two_workers(url: str, settings: Settings) -> tuple[Worker, Worker]:
    """Open connections until two were accepted by different workers."""
    found: dict[int, Worker] = {}
    deadline = time.monotonic() + 20
    while len(found) < 2 and time.monotonic() < deadline:
        http = httpx.Client(base_url=url, timeout=10)
        worker = Worker(0, http, settings)
        try:
            worker.pid = worker.answering_pid()
        except (httpx.TransportError, ValueError, KeyError):
            http.close()
            time.sleep(0.1)  # the second worker is still starting
            continue
        if worker.pid in found:
            http.close()
        else:
            found[worker.pid] = worker
    assert len(found) == 2, "two workers did not both answer on the port"
    first, second = found.values()
    return first, second


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("workers")
    plugins = folder / "plugins"
    subprocess.run(["cp", "-r", str(PLUGINS), str(plugins)], check=True)
    data, port = folder / "data", free_port()
    args = [
        *(sys.executable, "-m", "tessera", "serve", "--workers", "2"),
        *("--plugins", str(plugins), "--data", str(data), "--port", str(port)),
        *("--handler-timeout", "3", "--watchdog-threshold", "0"),
    ]
    env = {**os.environ, "SCALEOUT_LOG": str(folder), "PYTHONUNBUFFERED": "1"}
    env.pop("TESSERA_REDIS_URL", None)
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield Server(url, folder, Settings.load({"data": data}, environ={}))
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture
def pinned(server: Server) -> Iterator[Workers]:
    """Both workers, each through a connection of its own (fresh for each test: a
    connection idle for uvicorn's keep-alive of 5 s is closed)."""
    a, b = pin_two_workers(server.url, server.settings)
    yield Workers(server.url, server.folder, server.settings, a, b)
    a.http.close()
    b.http.close()


def test_a_collection_made_by_one_worker_is_read_by_the_other_at_once(pinned: Workers):
    a, b = pinned.a, pinned.b
    for n in range(5):
        shelf = f"fresh{n}"
        assert a.call("sam", "shelf", action="put", shelf=shelf, n=n).status_code == 200
        got = b.call("sam", "shelf", action="get", shelf=shelf).json()
        assert (got.get("found"), got.get("pid")) == ([n], b.pid), got


def test_an_index_made_by_one_worker_is_used_by_the_other_at_once(pinned: Workers):
    a, b = pinned.a, pinned.b
    b.call("tom", "shelf", action="put", shelf="tagged", n=1, tags=["x"])
    assert b.call("tom", "shelf", action="get", shelf="tagged").json()["indexes"][-1] != "tags_1"
    assert a.call("tom", "shelf", action="index", shelf="tagged").status_code == 200
    got = b.call("tom", "shelf", action="get", shelf="tagged").json()
    assert "tags_1" in got["indexes"] and got["pid"] == b.pid
    # A document with an array, written by one worker, found through the index by the other.
    a.call("tom", "shelf", action="put", shelf="tagged", n=2, tags=["x", "y"])
    assert b.call("tom", "shelf", action="get", shelf="tagged", tag="y").json()["found"] == [2]
    assert b.call("tom", "shelf", action="get", shelf="tagged", tag="x").json()["found"] == [1, 2]


async def test_a_websocket_gets_what_either_worker_sent_once_and_in_order(pinned: Workers):
    a, b = pinned.a, pinned.b
    count = 40
    async with (
        connect(pinned.ws_url("uma")) as first,
        connect(pinned.ws_url("uma")) as second,
        connect(pinned.ws_url("uma")) as third,
    ):
        for ws in (first, second, third):
            assert json.loads(await ws.recv())["type"] == "connected"
        senders = set()
        for n in range(count):
            worker = (a, b)[n % 2]
            answer = await asyncio.to_thread(worker.call, "uma", "relay", action="send", n=n)
            senders.add(answer.json()["pid"])
        # Both workers sent, so every socket got messages from a worker it is not on.
        assert senders == {a.pid, b.pid}
        for ws in (first, second, third):
            got = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]
            assert [m["seq"] for m in got] == list(range(1, count + 1))
            assert [m["n"] for m in got] == list(range(count))
            with pytest.raises(TimeoutError):  # and nothing twice
                await asyncio.wait_for(ws.recv(), 0.3)


async def test_a_websocket_resumes_with_what_both_workers_sent_meanwhile(pinned: Workers):
    a, b = pinned.a, pinned.b
    async with connect(pinned.ws_url("vera")) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        a.call("vera", "relay", action="send", n=0)
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    for n in range(1, 7):
        (a, b)[n % 2].call("vera", "relay", action="send", n=n)
    async with connect(pinned.ws_url("vera", last_seq=first["seq"])) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        missed = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(6)]
    assert [m["seq"] for m in missed] == list(range(2, 8))
    assert [m["n"] for m in missed] == list(range(1, 7))


async def test_a_broadcast_reaches_the_users_of_its_app_on_both_workers(pinned: Workers):
    a, b = pinned.a, pinned.b
    app = "broadcasting"
    async with contextlib.AsyncExitStack() as stack:

        async def open_socket(user_id: str, app_id: str) -> ClientConnection:
            ws = await stack.enter_async_context(connect(pinned.ws_url(user_id, app_id=app_id)))
            assert json.loads(await ws.recv())["type"] == "connected"
            return ws

        # Users connect until the port has given sockets to both workers.
        sockets: dict[str, ClientConnection] = {}
        on_a: set[str] = set()
        while not on_a or on_a == set(sockets):
            assert len(sockets) < 30, "every socket went to the same worker"
            user_id = f"wes{len(sockets)}"
            sockets[user_id] = await open_socket(user_id, app)
            if a.call(user_id, "relay", app_id=app, action="here").json()["here"]:
                on_a.add(user_id)
        outsider = await open_socket("wes0", "elsewhere")
        sent = b.call("wes0", "relay", app_id=app, action="broadcast", n=1)
        assert (sent.json()["pid"], sent.json()["reached"]) == (b.pid, len(sockets))
        for ws in sockets.values():
            got = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert got == {"type": "relay", "n": 1, "seq": 1}
        # The other app's user got nothing: the next message it receives is this one.
        a.call("wes0", "relay", app_id="elsewhere", action="send", n=2)
        got = json.loads(await asyncio.wait_for(outsider.recv(), 10))
        assert got == {"type": "relay", "n": 2, "seq": 1}


def test_a_rate_limit_holds_across_workers(pinned: Workers):
    a, b = pinned.a, pinned.b
    # metered allows 4 calls a minute per user, whichever worker answers them.
    statuses = [(a, b)[n % 2].call("hank", "metered").status_code for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert a.call("ivan", "metered").status_code == 200


def test_the_login_throttle_holds_across_workers(pinned: Workers):
    a, b = pinned.a, pinned.b
    # 10 attempts a minute per address and username, whichever worker answers them.
    guess = {"username": "olga", "password": "guess"}
    answers = [(a, b)[n % 2].http.post("/api/auth/login", json=guess) for n in range(12)]
    assert [r.status_code for r in answers] == [401] * 10 + [429, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_concurrency_cap_holds_across_workers(pinned: Workers):
    a, b = pinned.a, pinned.b
    slow = httpx.Client(base_url=pinned.url, timeout=10)
    statuses: list[int] = []

    def slow_call() -> None:
        headers = a.headers("judy")
        while not statuses or statuses[-1] == 429:
            answer = slow.post("/api/execute/capped", json={"sleep": 1.5}, headers=headers)
            statuses.append(answer.status_code)

    thread = threading.Thread(target=slow_call)
    thread.start()
    try:
        # capped runs one call at a time across the workers, wherever the slow one runs.
        refused = None
        while thread.is_alive():
            for worker in (a, b):
                answer = worker.call("kate", "capped", sleep=0)
                if answer.status_code == 429:
                    refused = answer
            if refused is not None and statuses:
                break
        assert refused is not None
        assert refused.json()["error_code"] == "too_many_concurrent_calls"
    finally:
        thread.join()
        slow.close()
    assert statuses[-1] == 200
    assert b.call("kate", "capped", sleep=0).status_code == 200


def test_each_event_is_handled_once_by_each_subscription(pinned: Workers):
    a, b = pinned.a, pinned.b
    numbers = [f"w{n}" for n in range(20)]
    for n, number in enumerate(numbers):
        (a, b)[n % 2].call("lena", "relay", action="publish", event="job:work", n=number)

    def done() -> list[str]:
        return [n for kind, _, n in pinned.handled if kind == "done" and n in numbers]

    eventually(lambda: len(done()) >= len(numbers), what="every event handled")
    time.sleep(0.5)  # room for a second handling, which must not come
    assert sorted(done()) == sorted(numbers)


def test_an_every_process_subscription_runs_in_each_worker(pinned: Workers):
    a, b = pinned.a, pinned.b
    a.call("lena", "relay", action="publish", event="cache:flush", n="c1")

    def pids() -> list[int]:
        return [pid for kind, pid, n in pinned.handled if kind == "cache" and n == "c1"]

    eventually(lambda: len(pids()) >= 2, what="both workers refreshed")
    time.sleep(0.5)
    assert sorted(pids()) == sorted([a.pid, b.pid])


def test_disabling_and_reloading_on_one_worker_reach_the_other(pinned: Workers):
    a, b = pinned.a, pinned.b
    assert b.call("lena", "toggle").status_code == 200
    assert a.admin("toggle/disable").status_code == 200
    eventually(lambda: b.call("lena", "toggle").status_code == 404, seconds=1, what="disabled")
    assert b.admin("toggle/enable").status_code == 200
    eventually(lambda: a.call("lena", "toggle").status_code == 200, seconds=1, what="enabled")
    logic = pinned.folder / "plugins" / "toggle" / "logic.py"
    original = logic.read_text()
    try:
        logic.write_text(original.replace('{"on": True}', '{"on": "again"}'))
        assert a.admin("toggle/reload").status_code == 200
        eventually(
            lambda: b.call("lena", "toggle").json() == {"on": "again"},
            seconds=1,
            what="the new code answering on the other worker",
        )
    finally:
        logic.write_text(original)
        a.admin("toggle/reload")
