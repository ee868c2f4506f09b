"""Readiness through a live server whose data folder is on a small disk that fills up:
liveness stays 200, readiness says what is wrong, a write answers 503 without storing
anything, and all of it recovers by itself once space is freed."""

from __future__ import annotations

import sqlite3
import textwrap
import time
from pathlib import Path

import httpx

from tests.store.test_faults import fill, small_disk

NOTES = textwrap.dedent(
    """
    from core.config.database import db


    async def execute(data):
        if data["action"] == "add":
            await db.notes.insert_one({"text": data["text"]})
            return {"added": True}
        return {"count": await db.notes.count_documents({"user_id": data["user_id"]})}
    """
)


def eventually_ready(url: str) -> httpx.Response:
    deadline = time.monotonic() + 10
    while (answer := httpx.get(f"{url}/health/ready")).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)
    return answer


def test_a_full_disk_is_named_by_readiness_and_recovers_by_itself(serve, tmp_path: Path):
    plugins = tmp_path / "plugins"
    (plugins / "notes").mkdir(parents=True)
    (plugins / "notes" / "logic.py").write_text(NOTES)
    with small_disk(tmp_path / "disk") as disk:
        live = serve(plugins, data=disk)
        assert eventually_ready(live.url).json() == {"status": "ready", "store": "ok"}
        with live.client("alice") as alice:
            for n in range(3):
                added = alice.post("/api/execute/notes", json={"action": "add", "text": str(n)})
                assert added.status_code == 200
            filler = fill(disk)
            big = {"action": "add", "text": "x" * 300_000}
            refused = alice.post("/api/execute/notes", json=big)
            assert refused.status_code == 503
            assert refused.json()["error_code"] == "store_unwritable"
            ready = httpx.get(f"{live.url}/health/ready")
            assert ready.status_code == 503
            assert ready.json()["problems"] == ["store: disk full"]
            health = httpx.get(f"{live.url}/health")
            assert health.status_code == 200 and health.json()["store"] == "disk full"
            assert alice.post("/api/execute/notes", json={"action": "count"}).json() == {"count": 3}

            filler.unlink()
            eventually_ready(live.url)
            added = alice.post("/api/execute/notes", json=big)
            assert added.status_code == 200
            assert alice.post("/api/execute/notes", json={"action": "count"}).json() == {"count": 4}
        path = live.runtime.store.engine.path
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
