"""The runtime owns the store's background work: the TTL monitor starts and stops with it."""

import asyncio
import datetime
from pathlib import Path

from tessera.runtime import Runtime
from tessera.settings import Settings


async def test_the_runtime_expires_ttl_documents_while_it_runs(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    settings = Settings.load(
        {"plugins": tmp_path / "plugins", "data": tmp_path / "data"}, environ={}
    )
    runtime = Runtime(settings)
    runtime.ttl_interval = 0.05
    await runtime.start()
    try:
        sessions = runtime.store["app"]["sessions"]
        await sessions.create_index("seen", expireAfterSeconds=60)
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        await sessions.insert_many([{"_id": 1, "seen": old}, {"_id": 2, "seen": "never"}])
        for _ in range(200):
            if await sessions.count_documents({}) == 1:
                break
            await asyncio.sleep(0.05)
        assert await sessions.find({}).to_list(None) == [{"_id": 2, "seen": "never"}]
    finally:
        await runtime.stop()
    assert runtime.ttl_monitor is None
