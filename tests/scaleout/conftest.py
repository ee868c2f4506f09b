"""A private ``redis-server`` and clusters of real ``tessera serve`` processes around it.

The processes share the token secret and one store: MongoDB when
``TESSERA_TEST_MONGODB_URI`` is set, otherwise one SQLite file (test_shared_store.py
shows what the embedded engine guarantees then). The first process starts alone: it
creates the token secret.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tessera.settings import Settings
from tests.test_cli import free_port, wait_healthy

PLUGINS = Path(__file__).resolve().parent / "plugins"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RedisServer:
    """A ``redis-server`` of the test alone, persisting to an append-only file so a
    restart keeps what it held."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.folder),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """Stop it at once, as a crash would (what was acknowledged is in its file)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    yield server
    server.stop()


@dataclass
class Node:
    """One ``tessera serve`` process of a cluster."""

    url: str
    process: subprocess.Popen[bytes]
    settings: Settings

    def token(self, user_id: str, **claims: Any) -> str:
        from tessera.runtime import local_tokens

        return local_tokens(self.settings).issue(user_id, **claims)

    def client(self, user_id: str, **claims: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(user_id, **claims)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def call(
        self, user_id: str, plugin: str, *, app_id: str | None = None, **body: Any
    ) -> httpx.Response:
        with self.client(user_id, app_id=app_id) as client:
            return client.post(f"/api/execute/{plugin}", json=body)

    def ws_url(self, user_id: str, *, app_id: str | None = None, **query: Any) -> str:
        token = self.token(user_id, app_id=app_id)
        params = "&".join(f"{k}={v}" for k, v in {"access_token": token, **query}.items())
        return f"ws{self.url.removeprefix('http')}/ws/notifications/_?{params}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Cluster:
    """Processes sharing one Redis, one store and one data folder; stopped after the test."""

    folder: Path
    redis: RedisServer
    nodes: list[Node] = field(default_factory=list)

    @property
    def handled(self) -> list[tuple[str, int, str]]:
        """``(kind, pid, n)`` for each line the relay plugin's handlers wrote."""
        log = self.folder / "handled.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [(kind, int(pid), n) for kind, pid, n in (line.split() for line in lines)]

    def start(self, count: int, **settings: Any) -> list[Node]:
        """Start ``count`` more processes; the first one alone, since it creates the
        token secret and the store's collections."""
        started = []
        if not self.nodes:
            first = self._launch(settings)
            self.nodes.append(first)  # stopped after the test even if it never starts
            started.append(first)
            wait_healthy(first.url, first.process)
            count -= 1
        more = [self._launch(settings) for _ in range(count)]
        self.nodes += more
        for node in more:
            wait_healthy(node.url, node.process)
        return started + more

    def _launch(self, settings: dict[str, Any]) -> Node:
        port = free_port()
        data = self.folder / "data"
        store = os.environ.get("TESSERA_TEST_MONGODB_URI") or str(self.folder / "shared.db")
        plugins = self.folder / "plugins"
        if not plugins.exists():
            shutil.copytree(PLUGINS, plugins)
        values = {
            "plugins": plugins,
            "data": data,
            "store": store,
            "redis_url": self.redis.url,
            "host": "127.0.0.1",
            "port": port,
            "handler_timeout": 3,
            "watchdog_threshold": 0,
            **settings,
        }
        args = [sys.executable, "-m", "tessera", "serve"]
        for name, value in values.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        env = {**os.environ, "SCALEOUT_LOG": str(self.folder), "PYTHONUNBUFFERED": "1"}
        output = (self.folder / f"node-{port}.log").open("wb")
        process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)
        loaded = Settings.load({"data": data}, environ={})
        return Node(f"http://127.0.0.1:{port}", process, loaded)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    folder = tmp_path / "cluster"
    folder.mkdir()
    running = Cluster(folder, redis_server)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two processes shared by the tests of a module (each test uses its own users)."""
    folder = tmp_path_factory.mktemp("pair")
    server = RedisServer(folder)
    server.start()
    running = Cluster(folder, server)
    running.start(2)
    yield running
    running.stop()
    server.stop()


def eventually(check: Callable[[], bool], seconds: float = 10, what: str = "") -> None:
    """Wait until ``check()`` holds; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds}s: {what}")
