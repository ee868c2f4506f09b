"""Scale-out benchmark: Tessera processes sharing Redis, measured against themselves.

Run ``.venv/bin/python bench/cluster.py`` (``--messages 200 --duration 3`` for a quick
run). It starts a private ``redis-server`` and three ``tessera serve`` processes on
loopback sharing it (and one SQLite file, which these plugins do not touch), then:

- **delivery latency** of ``send_to_user``: a WebSocket on process A; a plugin called on
  A (same process) or on B (cross-process) sends a message stamped with the time it
  sent it; the latency is the time until the socket receives it. The two cases alternate
  in one run, one message at a time; p50 and p99 of each, and their ratio;
- **execute throughput** of a plugin returning ``{"ok": true}`` with 1, 2 and 3
  processes: one ``wrk`` (Debian's package) per process, in processes of their own, the
  same number of connections in total; requests/s summed, and the ratio to 1 process.

On a machine with few cores the load generators compete with the servers: the
throughput figures show what the machine allows, not a cluster's ceiling. Set
``BENCH_DIR`` to keep the processes' logs and files in that folder.
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
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import httpx
from bench.loadgen import free_port, wait_ready, wrk_script
from websockets.asyncio.client import connect

from tessera.runtime import local_tokens
from tessera.settings import Settings

PLUGINS = {
    "ping": "async def execute(data: dict) -> dict:\n    return {'ok': True}\n",
    "push": (
        "import time\n"
        "from core.websocket_manager import websocket_manager\n\n\n"
        "async def execute(data: dict) -> dict:\n"
        "    message = {'type': 'bench', 'sent': time.time()}\n"
        "    return {'seq': await websocket_manager.send_to_user(data['user_id'], message)}\n"
    ),
}


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def start_nodes(
    folder: Path, redis_url: str, count: int
) -> list[tuple[str, subprocess.Popen[bytes]]]:
    plugins = folder / "plugins"
    for name, code in PLUGINS.items():
        (plugins / name).mkdir(parents=True)
        (plugins / name / "logic.py").write_text(code)
    nodes = []
    for _ in range(count):
        port = free_port()
        args = [
            *(sys.executable, "-m", "tessera", "serve", "--plugins", str(plugins)),
            *("--data", str(folder / "data"), "--store", str(folder / "shared.db")),
            *("--redis-url", redis_url, "--port", str(port), "--log-level", "warning"),
            *("--watchdog-threshold", "0"),
        ]
        log = (folder / f"node-{port}.log").open("wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        wait_ready(
            f"{url}/health", process
        )  # one at a time: the first creates the secret and the store
        nodes.append((url, process))
    return nodes


async def delivery(urls: list[str], token: str, messages: int) -> dict[str, list[float]]:
    """Milliseconds from send to receipt, for sends in the socket's process and another."""
    same, other = urls[0], urls[1]
    ws_url = f"ws{same.removeprefix('http')}/ws/notifications/_?access_token={token}"
    latencies: dict[str, list[float]] = {"same process": [], "cross-process": []}
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(ws_url) as ws, httpx.AsyncClient(headers=headers) as client:
        await asyncio.wait_for(ws.recv(), 10)  # greeting
        for i in range(messages * 2 + 20):
            kind, url = ("same process", same) if i % 2 == 0 else ("cross-process", other)
            answer = await client.post(f"{url}/api/execute/push", json={})
            answer.raise_for_status()
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("type") == "bench":
                    break
            if i >= 20:  # the first ones warm both paths up
                latencies[kind].append((time.time() - message["sent"]) * 1000)
    return latencies


def run_wrk(url: str, script: Path, duration: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *("wrk", "-t1", f"-c{connections}", f"-d{duration}s"),
            *("-s", str(script), f"{url}/api/execute/ping"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def throughput(urls: list[str], script: Path, duration: int, connections: int) -> float:
    """Requests per second of ``urls`` loaded at once, one wrk process each."""
    runs = [run_wrk(url, script, duration, max(1, connections // len(urls))) for url in urls]
    total = 0.0
    for run in runs:
        output, _ = run.communicate()
        total += float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if errors:
            raise RuntimeError(f"{errors.group(1)} failed requests:\n{output}")
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="messages per latency case")
    parser.add_argument("--duration", type=int, default=5, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=48, help="wrk connections in total")
    args = parser.parse_args()
    for tool in ("redis-server", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install {tool}")
    with tempfile.TemporaryDirectory(prefix="tessera-cluster-") as tmp:
        folder = Path(os.environ.get("BENCH_DIR") or tmp)
        redis, redis_url = start_redis(folder)
        nodes = start_nodes(folder, redis_url, 3)
        try:
            issuer = local_tokens(Settings.load({"data": folder / "data"}, environ={}))
            tokens = folder / "tokens.txt"
            tokens.write_text("\n".join(issuer.issue(f"user{i}") for i in range(100)))
            script = folder / "bench.lua"
            script.write_text(wrk_script(str(tokens), "{}"))
            urls = [url for url, _ in nodes]

            latencies = asyncio.run(delivery(urls, issuer.issue("watcher"), args.messages))
            print(f"send_to_user delivery latency, {args.messages} messages each (ms):")
            p50s = {}
            for kind, values in latencies.items():
                p50s[kind] = percentile(values, 50)
                print(f"  {kind:<14} p50 {p50s[kind]:6.2f}  p99 {percentile(values, 99):6.2f}")
            ratio = p50s["cross-process"] / p50s["same process"]
            print(f"  cross-process / same process (p50): {ratio:.2f}x")

            print(f"execute throughput, noop plugin, {args.connections} connections in total:")
            throughput(urls, script, 1, args.connections)  # warm-up
            base = 0.0
            for count in (1, 2, 3):
                rps = throughput(urls[:count], script, args.duration, args.connections)
                base = base or rps
                label = f"{count} process" + ("es" if count > 1 else "")
                print(f"  {label:<11} {rps:9.0f} req/s  {rps / base:.2f}x")
            print(f"  ({os.cpu_count()} CPUs shared by the servers, Redis and wrk)")
        finally:
            for _, process in nodes:
                process.terminate()
            for _, process in nodes:
                process.wait(10)
            redis.terminate()
            redis.wait(10)


if __name__ == "__main__":
    main()
