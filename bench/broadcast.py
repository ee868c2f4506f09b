"""Broadcast benchmark: two Tessera processes, sockets on both, ``broadcast`` from one.

Run ``.venv/bin/python bench/broadcast.py`` (``--users 200`` for a quick run). For one
process alone (the baseline: it records no presence), then for each way two processes
share state, two ``tessera serve`` processes sharing a private ``redis-server``, then
``tessera serve --workers 2`` (the workers' file), it measures:

- **accept**: milliseconds from opening a WebSocket to its ``connected`` greeting, one
  socket at a time, ``--users`` sockets of distinct users (each records its presence);
- **broadcast**: a plugin's ``broadcast`` to those users, called on one process: the
  milliseconds of the call, and until the last socket received its copy; ``--rounds``
  broadcasts, one at a time.

Set ``BENCH_DIR`` to keep the processes' logs and files in that folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/http.py would
# hide the standard library's `http` package from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import tempfile
import time

import httpx
from bench.cluster import percentile, start_redis
from bench.loadgen import free_port, wait_ready
from websockets.asyncio.client import ClientConnection, connect

from tessera.runtime import local_tokens
from tessera.settings import Settings

SHOUT = (
    "from core.websocket_manager import websocket_manager\n\n\n"
    "async def execute(data: dict) -> dict:\n"
    "    return {'reached': await websocket_manager.broadcast({'type': 'shout'})}\n"
)


def serve(folder: Path, *options: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    args = [
        *(sys.executable, "-m", "tessera", "serve", "--plugins", str(folder / "plugins")),
        *("--data", str(folder / "data"), "--port", str(port), "--log-level", "warning"),
        *("--watchdog-threshold", "0", *options),
    ]
    log = (folder / f"serve-{port}.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "TESSERA_REDIS_URL"}
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/health", process)
    return url, process


async def measure(urls: list[str], folder: Path, users: int, rounds: int) -> tuple[float, float]:
    """Print the figures; return the accept p50 and the broadcast call p50."""
    issuer = local_tokens(Settings.load({"data": folder / "data"}, environ={}))
    accepts: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        sockets: list[ClientConnection] = []
        for n in range(users):
            url = urls[n % len(urls)]
            ws_url = f"ws{url.removeprefix('http')}/ws?access_token={issuer.issue(f'u{n}')}"
            started = time.perf_counter()
            ws = await stack.enter_async_context(connect(ws_url, max_queue=None))
            await asyncio.wait_for(ws.recv(), 10)
            accepts.append((time.perf_counter() - started) * 1000)
            sockets.append(ws)
        calls, arrivals = [], []
        headers = {"Authorization": f"Bearer {issuer.issue('caller')}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            for _ in range(rounds):
                started = time.perf_counter()
                answer = await client.post(f"{urls[-1]}/api/execute/shout", json={})
                calls.append((time.perf_counter() - started) * 1000)
                assert answer.json()["reached"] == users, answer.text
                for ws in sockets:
                    while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "shout":
                        pass
                arrivals.append((time.perf_counter() - started) * 1000)
    print(f"  accept, {users} sockets (ms): p50 {percentile(accepts, 50):.2f}", end="")
    print(f"  p99 {percentile(accepts, 99):.2f}")
    print(f"  broadcast to {users} users, {rounds} rounds (ms):", end="")
    print(f" call p50 {percentile(calls, 50):.1f}, last copy received p50", end="")
    print(f" {percentile(arrivals, 50):.1f}")
    return percentile(accepts, 50), percentile(calls, 50)


def compare(figures: tuple[float, float], baseline: tuple[float, float]) -> None:
    accept, call = (mine / theirs for mine, theirs in zip(figures, baseline, strict=True))
    print(f"  against one process (p50): accept {accept:.2f}x, broadcast call {call:.2f}x")


def stop(running: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, process in running:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="users with a socket open")
    parser.add_argument("--rounds", type=int, default=10, help="broadcasts measured")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="tessera-broadcast-") as tmp:
        folder = Path(os.environ.get("BENCH_DIR") or tmp)
        (folder / "plugins" / "shout").mkdir(parents=True)
        (folder / "plugins" / "shout" / "logic.py").write_text(SHOUT)
        redis, redis_url = start_redis(folder)
        running: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            running = [serve(folder)]  # first alone: it creates the secret
            print("one process:")
            baseline = asyncio.run(measure([running[0][0]], folder, args.users, args.rounds))
            stop(running)
            store = ("--store", str(folder / "shared.db"), "--redis-url", redis_url)
            running = [serve(folder, *store), serve(folder, *store)]
            print("two processes sharing Redis:")
            urls = [url for url, _ in running]
            compare(asyncio.run(measure(urls, folder, args.users, args.rounds)), baseline)
            stop(running)
            running = [serve(folder, "--workers", "2")]
            print("--workers 2, the workers' file:")
            urls = [running[0][0]]
            compare(asyncio.run(measure(urls, folder, args.users, args.rounds)), baseline)
        finally:
            stop(running)
            redis.terminate()
            redis.wait(10)


if __name__ == "__main__":
    main()
