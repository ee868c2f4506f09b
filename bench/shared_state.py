"""How the workers of ``serve --workers N`` should share state: the measurement behind
cluster/shared.py.

Two processes at once each take 3,000 tokens from one bucket, through

- a write transaction on a shared SQLite file in WAL mode, with ``synchronous`` OFF,
  NORMAL and FULL (SQLite's busy handler makes one wait while the other holds the lock);
- a request to a hub: an asyncio server on a thread of a third process, over a Unix socket.

Run ``.venv/bin/python bench/shared_state.py``; it prints operations/s, p50 and p99 per
process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

COUNT = 3000


def summary(seconds: list[float], total: float) -> tuple[float, float, float]:
    ordered = sorted(seconds)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return COUNT / total, p50 * 1e6, p99 * 1e6


def timed(step: Callable[[], Any]) -> tuple[float, float, float]:
    seconds = []
    start = time.perf_counter()
    for _ in range(COUNT):
        began = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - began)
    return summary(seconds, time.perf_counter() - start)


def take_in_file(path: str, synchronous: str, results: Any) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute(f"PRAGMA synchronous={synchronous}")

    def take() -> None:
        conn.execute("BEGIN IMMEDIATE")
        (tokens,) = conn.execute("SELECT tokens FROM bucket WHERE key = 'u'").fetchone()
        conn.execute("UPDATE bucket SET tokens = ?, at = ? WHERE key = 'u'", (tokens - 1, 0))
        conn.execute("COMMIT")

    results.put(timed(take))


def hub(path: str, ready: threading.Event) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tokens = 1e9
        while await reader.readline():
            tokens -= 1
            writer.write(b"0\n")
            await writer.drain()

    async def main() -> None:
        server = await asyncio.start_unix_server(serve, path)
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


def take_from_hub(path: str, results: Any) -> None:
    with socket.socket(socket.AF_UNIX) as conn, conn.makefile("rb") as answers:
        conn.connect(path)

        def take() -> None:
            conn.sendall(b"take u\n")
            answers.readline()

        results.put(timed(take))


def in_two_processes(target: Callable[..., None], *args: Any) -> list[Any]:
    results: Any = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=target, args=(*args, results)) for _ in "ab"]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return [results.get() for _ in processes]


def main() -> None:
    folder = tempfile.mkdtemp(prefix="tessera-shared-")
    print(f"{COUNT} tokens taken by each of two processes at once")
    for synchronous in ("OFF", "NORMAL", "FULL"):
        path = os.path.join(folder, f"{synchronous}.db")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE bucket (key TEXT PRIMARY KEY, tokens REAL, at REAL)")
        conn.execute("INSERT INTO bucket VALUES ('u', 1e9, 0)")
        conn.close()
        for rate, p50, p99 in in_two_processes(take_in_file, path, synchronous):
            label = f"SQLite file, synchronous={synchronous}"
            print(f"  {label:34} {rate:7.0f}/s  p50 {p50:6.0f} us  p99 {p99:7.0f} us")
    path = os.path.join(folder, "hub.sock")
    ready = threading.Event()
    threading.Thread(target=hub, args=(path, ready), daemon=True).start()
    ready.wait()
    for rate, p50, p99 in in_two_processes(take_from_hub, path):
        print(
            f"  {'hub thread, Unix socket':34} {rate:7.0f}/s  p50 {p50:6.0f} us  p99 {p99:7.0f} us"
        )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
