"""A plugin's pool under attack: what a hostile plugin or its callers leave behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tessera.sandbox.confinement import Confinement, Limits
from tessera.sandbox.operations import CallState
from tessera.sandbox.pool import Pool, PoolSettings

# Imports take long enough that a call with a short timeout gives up while its worker starts.
SLOW_IMPORT = "import time\ntime.sleep(1.5)\n\nasync def execute(data):\n    return {'ok': True}\n"


def _workers() -> set[int]:
    """The sandbox workers (bwrap processes) this test process started and not yet reaped."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"bwrap" in cmdline:
            found.add(int(entry.name))
    return found


def _subscribe(plugin: str, event: str, every: bool, add: bool) -> None:
    raise AssertionError("no subscriptions here")


async def test_a_call_that_times_out_while_its_worker_starts_leaves_no_stray_worker(tmp_path):
    """The worker a timed-out call was starting joins the pool (or ends), never runs on
    unaccounted: callers could otherwise pile up processes with short timeouts."""
    folder = tmp_path / "slowstart"
    folder.mkdir()
    (folder / "logic.py").write_text(SLOW_IMPORT)
    pool = Pool("slowstart", Confinement(plugin_dir=folder), PoolSettings(max_workers=1))
    state = CallState("slowstart", _subscribe)

    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.run({"kind": "call", "data": {}}, state), 0.2)
        for _ in range(100):  # the start under way ends within its import (1.5 s)
            if pool.idle:
                break
            await asyncio.sleep(0.1)
        assert [w.process.pid for w in pool.idle] == sorted(_workers())
        done = await pool.run({"kind": "call", "data": {}}, state)
        assert done["result"] == {"ok": True}
        assert pool.starts == 1  # the one the timed-out call began: no second start
    finally:
        pool.close()


# Each call spends 0.3 s of CPU: a few calls add up to a worker's whole-life CPU limit.
BURNER = (
    "import time\n\n"
    "async def execute(data):\n"
    "    end = time.process_time() + 0.3\n"
    "    while time.process_time() < end:\n"
    "        pass\n"
    "    return {'ok': True}\n"
)


async def test_a_worker_near_its_cpu_limit_is_replaced_between_calls_not_killed_in_one(tmp_path):
    """``cpu_seconds`` counts over a worker's life: calls that each stay well within it
    must not fail because earlier calls, maybe other users', spent the worker's budget."""
    folder = tmp_path / "burner"
    folder.mkdir()
    (folder / "logic.py").write_text(BURNER)
    confined = Confinement(plugin_dir=folder, limits=Limits(cpu_seconds=2))
    pool = Pool("burner", confined, PoolSettings(max_workers=1))
    state = CallState("burner", _subscribe)
    try:
        answers = [(await pool.run({"kind": "call", "data": {}}, state)) for _ in range(8)]
        assert [a.get("result") for a in answers] == [{"ok": True}] * 8
        assert pool.deaths == 0
    finally:
        pool.close()


# Sends requests whose answers (errors echoing the 1 MiB method name) it never reads.
DEAF = (
    "import bson\n"
    "from tessera.sandbox import channel\n\n"
    "async def execute(data):\n"
    "    chan = channel.current()\n"
    "    frame = bson.encode({'op': 'db', 'job': chan.job, 'coll': 'x', 'method': 'm' * 2**20})\n"
    "    for _ in range(48):\n"
    "        chan.sock.sendall(frame)\n"
    "    return {'sent': 48}\n"
)


def _buffered(pool: Pool) -> int:
    """What the server holds in memory, written to the pool's workers and not yet read."""
    channels = [w.channel for w in (*pool.busy, *pool.idle) if w.channel is not None]
    return max((c.transport.get_write_buffer_size() for c in channels if c.transport), default=0)


async def test_a_worker_that_never_reads_its_answers_cannot_fill_the_servers_memory(tmp_path):
    """The server waits for the worker to read an answer before it reads the next request:
    otherwise a worker could make it buffer answers until the server runs out of memory."""
    folder = tmp_path / "deaf"
    folder.mkdir()
    (folder / "logic.py").write_text(DEAF)
    pool = Pool("deaf", Confinement(plugin_dir=folder), PoolSettings(max_workers=1))
    call = asyncio.ensure_future(
        pool.run({"kind": "call", "data": {}}, CallState("deaf", _subscribe))
    )
    most = 0
    try:
        for _ in range(50):  # 48 MiB sent in well under 5 s; the call should stall instead
            await asyncio.wait([call], timeout=0.1)
            most = max(most, _buffered(pool))
            if call.done():
                break
        assert most < 4 * 2**20, f"the server buffered {most} bytes for one worker"
    finally:
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        pool.close()


def test_a_flood_of_failing_users_keeps_the_pools_counts_bounded(tmp_path, monkeypatch):
    """Each user whose calls kill their worker is counted apart (so one user cannot stop
    the plugin for all); past a bound the pool forgets those not backing off, so callers
    cannot grow its memory without end, while a user backing off stays so."""
    monkeypatch.setattr("tessera.sandbox.pool.FAILING_USERS_KEPT", 10)
    pool = Pool("brittle", Confinement(plugin_dir=tmp_path), PoolSettings())
    for _ in range(3):
        pool._died("memory limit", ("app", "mallory"))
    assert ("app", "mallory") in pool.user_retry_at
    for n in range(1000):
        pool._died("memory limit", ("app", f"user{n}"))
    assert len(pool.user_failures) <= 10
    assert pool.user_failures.get(("app", "mallory")) == 3
    assert pool.failures == 0  # the plugin itself does not back off for its users' calls
