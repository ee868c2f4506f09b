"""``tessera serve --workers N`` on MongoDB and Redis: several processes on one port
(test_embedded_workers.py: the embedded store, no Redis)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tessera.cli import cluster_app
from tessera.runtime import local_tokens
from tessera.settings import Settings
from tests.scaleout.conftest import PLUGINS, RedisServer
from tests.test_cli import free_port, wait_healthy


@pytest.mark.skipif(
    not os.environ.get("TESSERA_TEST_MONGODB_URI"),
    reason="needs a MongoDB: set TESSERA_TEST_MONGODB_URI",
)
def test_workers_share_one_port(tmp_path, redis_server: RedisServer):
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tessera", "serve", "--workers", "2"),
            *("--plugins", str(PLUGINS), "--data", str(tmp_path / "data")),
            *("--store", os.environ["TESSERA_TEST_MONGODB_URI"], "--redis-url", redis_server.url),
            *("--port", str(port)),
        ],
        env={**os.environ, "SCALEOUT_LOG": str(tmp_path)},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        assert httpx.get(f"{url}/health").json()["redis"] == "ok"
        token = local_tokens(Settings.load({"data": tmp_path / "data"}, environ={})).issue("u")
        headers = {"Authorization": f"Bearer {token}"}
        pids = set()
        for _ in range(200):
            answer = httpx.post(f"{url}/api/execute/relay", json={"action": "pid"}, headers=headers)
            pids.add(answer.json()["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2
    finally:
        process.terminate()
        process.wait(20)


def test_each_worker_builds_its_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TESSERA_REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path))
    app = cluster_app()
    assert app.state.runtime.settings.redis_url == "redis://cache.example:6379/2"
    assert str(app.state.runtime.settings.data) == str(tmp_path)
