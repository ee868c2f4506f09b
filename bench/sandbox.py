"""Sandbox mode against in-process, measured in the same run.

Run ``.venv/bin/python bench/sandbox.py`` (``--rounds 1 --duration 3`` for a quick run).

- HTTP, with wrk as ``bench/http.py`` runs it (servers on CPU 0, load on CPU 1, turns in
  rounds, the median round): a bare ASGI app, Tessera with a no-op plugin and a plugin
  listing 100 documents, each in-process and in ``--isolation sandbox``; with the CPU a
  request cost the server and its workers (from ``/proc``, around each wrk run), which
  says where a sandboxed call's time goes and drifts less than requests/s on this machine.
- ``find_one``: a plugin timing 2,000 scoped ``find_one`` calls inside one call, in-process
  and sandboxed (the difference is what the proxy adds per operation), on the event loop
  ``tessera serve`` runs (uvloop), on CPU 0 with its workers.
- ``floor``: the least a round trip can cost, two Python processes on one CPU passing a
  ``find_one``-sized request and answer over a socket pair (the worker's blocking end
  against a uvloop protocol like the server's), and BSON's cost for a 100-document page:
  what the proxy cannot go below.
- ``calls``: 20,000 no-op calls to one confined worker through ``WorkerProcess.run``, one
  after the other, server and worker on CPU 0: wall time and CPU per call on each side,
  what a sandboxed call costs beyond the floor when nothing else runs.
- ``busy``: a victim's no-op calls to an in-process plugin, one after the other (p50, p99
  and max of 600), alone and while eight attackers keep eight sandboxed workers of four
  plugins in busy loops (each call running to its 60 s timeout, past the measurement):
  what the server keeps of the cores against workers that run niced below it.
- Worker start: ``WorkerProcess.launch`` and ``ready`` of a small plugin, confined, 20 times.
- Idle plugins: a server with 200 sandboxed plugins, each called once, against the same
  server with none: the memory of the server and its workers (RSS, and PSS, which counts
  pages the workers share once) just after the calls, and after the idle workers end.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import socket
import statistics
import subprocess
import tempfile
import time
import timeit

import httpx
from bench.http import (
    PYTHON,
    ROOT,
    median_run,
    prepare,
    round_ratios,
    run_wrk,
    start_server,
)
from bench.loadgen import free_port, wait_ready, wrk_script

from tessera.sandbox.frames import (
    FrameBuffer,
    FrameProtocol,
    decode,
    encode,
    message_frame,
    recv_frame,
)

FIND_ONE = (
    "import time\n\nfrom core.config.database import db\n\n\n"
    "async def execute(data: dict) -> dict:\n"
    "    notes = db['list_items']\n"
    "    started = time.perf_counter()\n"
    "    for _ in range(2000):\n"
    "        await notes.find_one({'user_id': data['user_id']})\n"
    "    return {'us': (time.perf_counter() - started) / 2000 * 1e6}\n"
)


def http_part(args: argparse.Namespace, data: Path) -> None:
    tokens = prepare(data, args.users, args.per_user)
    script = data / "bench.lua"
    script.write_text(wrk_script(str(tokens), '{"action": "list"}'))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    uvicorn = [PYTHON, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    uvicorn += ["--no-proxy-headers", "--no-server-header"]
    tessera = [PYTHON, "-m", "tessera", "serve", "--plugins", str(data / "plugins")]
    tessera += ["--data", str(data), "--log-level", "warning"]
    servers: dict[str, tuple[list[str], str]] = {}
    port = free_port()
    servers["bare"] = (
        [*uvicorn, "--port", str(port), "bench.apps.bare:app"],
        f"http://127.0.0.1:{port}/",
    )
    for mode in ("in-process", "sandbox"):
        isolation = ["--isolation", "sandbox"] if mode == "sandbox" else []
        for plugin in ("noop", "list"):
            port = free_port()
            url = f"http://127.0.0.1:{port}/api/execute/{plugin}"
            servers[f"{plugin} {mode}"] = ([*tessera, *isolation, "--port", str(port)], url)
    processes = {n: start_server(c, u, env) for n, (c, u) in servers.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for _, url in servers.values():
            run_wrk(url, script, 2, args.connections)
        for _ in range(args.rounds):
            for name, (_, url) in servers.items():
                pid = processes[name].pid
                before = server_and_workers_cpu(pid)
                run = run_wrk(url, script, args.duration, args.connections)
                after = server_and_workers_cpu(pid)
                requests = max(1.0, run["rps"] * args.duration)
                run["server_us"] = (after[0] - before[0]) / requests * 1e6
                run["workers_us"] = (after[1] - before[1]) / requests * 1e6
                runs[name].append(run)
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)
    for name, name_runs in runs.items():
        result = median_run(name_runs)
        cpu = statistics.median(r["server_us"] for r in name_runs)
        workers = statistics.median(r["workers_us"] for r in name_runs)
        print(
            f"  {name:18} {result['rps']:8.0f} req/s  p50 {result['p50']:7.2f} ms  "
            f"p99 {result['p99']:7.2f} ms  non-2xx {result['errors']:.0f}  CPU a request: "
            f"server {cpu:.0f} µs + workers {workers:.0f} µs"
        )
    for label, name, baseline, target in [
        ("noop sandbox / bare ASGI   ", "noop sandbox", "bare", 0.25),
        ("noop in-process / bare ASGI", "noop in-process", "bare", 0.5),
        ("list sandbox / in-process  ", "list sandbox", "list in-process", 0.6),
    ]:
        ratios = round_ratios(runs[name], runs[baseline])
        print(f"{label} = {statistics.median(ratios):.2f} (target >= {target})")


async def find_one_part(data: Path) -> None:
    from tessera.testing import Harness

    plugins = data / "find-plugins"
    for name, manifest in (("inproc", "{}"), ("boxed", '{"sandbox": true}')):
        (plugins / name).mkdir(parents=True, exist_ok=True)
        (plugins / name / "logic.py").write_text(FIND_ONE)
        (plugins / name / "manifest.json").write_text(manifest)
    async with Harness(plugins, plugin_timeout=120) as harness:
        await harness.runtime.databases.app()["list_items"].insert_one({"user_id": "u1"})
        figures: dict[str, list[float]] = {"inproc": [], "boxed": []}
        for _ in range(5):
            for name in figures:
                result = await harness.execute(name, {}, user="u1")
                figures[name].append(result["us"])
    inproc, boxed = (statistics.median(figures[n]) for n in ("inproc", "boxed"))
    print(f"find_one in-process {inproc:.0f} µs, sandboxed {boxed:.0f} µs (median of 5)")
    print(f"find_one through the proxy adds {boxed - inproc:.0f} µs (target <= 100)")


ROUND_TRIPS = 20_000


def _answer_requests(sock: socket.socket, answer: bytes) -> None:
    """The worker's side of the floor: a blocking read and an answer per request."""
    buffer = FrameBuffer()
    try:
        while True:
            recv_frame(sock, buffer)
            sock.sendall(answer)
    except EOFError:
        pass


async def _ask(sock: socket.socket, request: bytes) -> float:
    """The server's side: ROUND_TRIPS requests through its frame protocol; the CPU
    seconds this process spent."""
    channel = await FrameProtocol.connect(sock, FrameBuffer())
    started = os.times()
    for _ in range(ROUND_TRIPS):
        await channel.write(request)
        await channel.read()
    channel.close()
    now = os.times()
    return now.user + now.system - started.user - started.system


def floor_part() -> None:
    import bson

    from tessera.http.listener import new_event_loop

    request = encode(
        {
            "op": "db",
            "job": 1,
            "coll": "notes",
            "method": "find_one",
            "args": [{"user_id": "user00001"}],
            "kwargs": {},
        }
    )
    answer = encode({"ok": {"_id": bson.ObjectId(), "user_id": "user00001", "title": "x" * 60}})
    os.sched_setaffinity(0, {0})
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        _answer_requests(theirs, answer)
        os._exit(0)
    theirs.close()
    children, wall = os.times(), time.perf_counter()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        server = runner.run(_ask(ours, request))
    wall = time.perf_counter() - wall
    os.waitpid(child, 0)
    after = os.times()
    worker = after.children_user + after.children_system
    worker -= children.children_user + children.children_system
    per = (server + worker) / ROUND_TRIPS * 1e6
    print(
        f"round trip floor, one CPU: {wall / ROUND_TRIPS * 1e6:.0f} µs, CPU {per:.0f} µs "
        f"(server {server / ROUND_TRIPS * 1e6:.0f} + worker {worker / ROUND_TRIPS * 1e6:.0f})"
    )
    page = [
        {
            "_id": bson.ObjectId(),
            "user_id": "user00001",
            "created_at": dt.datetime(2024, 1, 1),
            "title": "item 1 of user 1 " + "x" * 60,
            "status": "open",
            "tags": ["work", "home"],
        }
        for _ in range(100)
    ]
    frame = encode({"docs": page})
    encoding = timeit.timeit(lambda: encode({"docs": page}), number=2000) / 2000
    decoding = timeit.timeit(lambda: decode(frame), number=2000) / 2000
    print(
        f"100-document page ({len(frame):,} bytes): BSON encode {encoding * 1e6:.0f} µs, "
        f"decode {decoding * 1e6:.0f} µs (a sandboxed list decodes its page once, in the "
        "worker; the server passes stored documents on)"
    )
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def server_and_workers_cpu(server: int) -> tuple[float, float]:
    """User and system CPU seconds of the server process, and of its descendants (its
    sandbox workers, with bubblewrap around them) alive now."""
    tree = process_tree(server)
    mine = cpu_seconds_of(server)
    return mine, sum(cpu_seconds_of(pid) for pid in tree[1:])


def cpu_seconds_of(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` alone (0 once it has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of process ``pid`` and its descendants (bubblewrap, worker)."""
    return sum(cpu_seconds_of(each) for each in process_tree(pid))


async def calls_part(data: Path, count: int = 20_000) -> None:
    from tessera.plugins.manifest import default_manifest
    from tessera.sandbox.host import Sandbox
    from tessera.sandbox.operations import CallState
    from tessera.sandbox.process import WorkerProcess

    folder = data / "calls-plugins" / "noop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logic.py").write_text("async def execute(data):\n    return {'ok': True}\n")
    worker = WorkerProcess.launch(
        "noop", Sandbox(True).confinement("noop", folder, default_manifest("noop"))
    )
    await worker.ready(30)
    state = CallState("noop", lambda *_: None)
    call = message_frame({"kind": "call", "data": {"user_id": "u1", "app_id": "default"}})
    try:
        for _ in range(500):
            await worker.run(call, state)
        wall, server, theirs = (
            time.perf_counter(),
            time.process_time(),
            cpu_seconds(worker.process.pid),
        )
        for _ in range(count):
            await worker.run(call, state)
        wall = time.perf_counter() - wall
        server = time.process_time() - server
        theirs = cpu_seconds(worker.process.pid) - theirs
    finally:
        worker.kill()
    print(
        f"no-op calls one after the other, one CPU: {wall / count * 1e6:.1f} µs a call, CPU "
        f"server {server / count * 1e6:.1f} µs + worker {theirs / count * 1e6:.1f} µs"
    )


BUSY_LOOP = "async def execute(data):\n    while True:\n        pass\n"


def busy_part(data: Path) -> None:
    import json
    import threading

    from tessera.runtime import local_tokens
    from tessera.settings import Settings

    folder, data_dir = data / "busy-plugins", data / "busy-data"
    for i in range(4):
        (folder / f"busy{i}").mkdir(parents=True, exist_ok=True)
        (folder / f"busy{i}" / "logic.py").write_text(BUSY_LOOP)
        manifest = json.dumps({"timeout": 60, "sandbox": True})
        (folder / f"busy{i}" / "manifest.json").write_text(manifest)
    (folder / "noop").mkdir(parents=True, exist_ok=True)
    (folder / "noop" / "logic.py").write_text("async def execute(data):\n    return {}\n")
    data_dir.mkdir(parents=True, exist_ok=True)
    issuer = local_tokens(Settings.load({"data": data_dir}, environ={}))
    port = free_port()
    command = [PYTHON, "-m", "tessera", "serve", "--plugins", str(folder), "--port", str(port)]
    command += ["--data", str(data_dir), "--log-level", "error"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base, busy = f"http://127.0.0.1:{port}", threading.Event()
    busy.set()

    def client(user: str) -> httpx.Client:
        headers = {"authorization": f"Bearer {issuer.issue(user, ttl_seconds=3600)}"}
        return httpx.Client(base_url=base, headers=headers, timeout=90)

    def attack(user: str, plugin: str) -> None:
        with client(user) as attacker, contextlib.suppress(httpx.HTTPError):
            while busy.is_set():  # the server's stop ends the last call
                attacker.post(f"/api/execute/{plugin}", json={})

    def victim_calls(victim: httpx.Client, count: int = 600) -> str:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            assert victim.post("/api/execute/noop", json={}).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        times.sort()
        p50, p99 = times[count // 2], times[count * 99 // 100]
        return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms"

    attackers = [
        threading.Thread(target=attack, args=(f"attacker{i}", f"busy{i % 4}"), daemon=True)
        for i in range(8)
    ]
    try:
        wait_ready(base + "/", process)
        with client("victim") as victim:
            victim_calls(victim, 20)
            print(f"victim alone:                   {victim_calls(victim)}")
            for thread in attackers:
                thread.start()
            time.sleep(3)  # the eight workers started and looping
            print(f"victim, 8 workers busy-looping: {victim_calls(victim)}")
    finally:
        busy.clear()
        process.terminate()
        process.wait(timeout=30)


def start_part(data: Path) -> None:
    from tessera.plugins.manifest import default_manifest
    from tessera.sandbox.host import Sandbox
    from tessera.sandbox.process import WorkerProcess

    folder = data / "start-plugins" / "small"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logic.py").write_text("async def execute(data):\n    return {}\n")
    confined = Sandbox(True).confinement("small", folder, default_manifest("small"))

    async def one_start() -> float:
        worker = WorkerProcess.launch("small", confined)
        await worker.ready(30)
        worker.kill()
        return worker.start_seconds * 1000

    times = [asyncio.run(one_start()) for _ in range(20)]
    print(
        f"worker start: median {statistics.median(times):.0f} ms, "
        f"min {min(times):.0f} ms, max {max(times):.0f} ms (target <= 150)"
    )


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    return [pid] + [p for child in map(int, children) for p in process_tree(child)]


def memory_mb(pid: int) -> tuple[float, float]:
    """RSS and PSS of one process (MB): PSS shares each page among the processes mapping
    it, so the PSS of a tree is what it adds to the machine's memory."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    return fields.get("Rss", 0) / 1024, fields.get("Pss", 0) / 1024


def tree_memory(server: int) -> dict[str, float]:
    """The server's RSS, and the RSS and PSS of the whole tree (server, bubblewrap and
    workers), with the number of worker processes."""
    pids = process_tree(server)
    totals = [memory_mb(pid) for pid in pids]
    workers = 0
    for pid in pids[1:]:  # the Python worker itself, not bubblewrap and env around it
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        workers += b"python" in Path(argv[0].decode()).name.encode() and (
            b"tessera.sandbox.worker" in argv
        )
    return {
        "server": totals[0][0],
        "rss": sum(rss for rss, _ in totals),
        "pss": sum(pss for _, pss in totals),
        "workers": workers,
    }


def call_each(port: int, token: str, count: int) -> int:
    """One call to each of the ``count`` plugins, eight at a time; how many answered 200."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"authorization": f"Bearer {token}"}

    def one(i: int) -> bool:
        url = f"http://127.0.0.1:{port}/api/execute/p{i:03d}"
        return httpx.post(url, json={}, headers=headers, timeout=60).status_code == 200

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(one, range(count)))


def idle_part(data: Path, count: int) -> None:
    """A server with ``count`` sandboxed plugins, each called once (its workers started),
    against the same server with none: memory right after the calls, and after 70 s idle
    (idle workers end after 60 s)."""
    from tessera.runtime import local_tokens
    from tessera.settings import Settings

    results = {}
    for label, plugins in (("none", 0), ("many", count)):
        folder = data / f"idle-{label}"
        for i in range(plugins):
            (folder / f"p{i:03d}").mkdir(parents=True, exist_ok=True)
            (folder / f"p{i:03d}" / "logic.py").write_text(
                "async def execute(data):\n    return {'ok': True}\n"
            )
        folder.mkdir(parents=True, exist_ok=True)
        data_dir = data / f"idle-data-{label}"
        data_dir.mkdir(parents=True, exist_ok=True)
        token = local_tokens(Settings.load({"data": data_dir}, environ={})).issue("idle-user")
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        command = [PYTHON, "-m", "tessera", "serve", "--plugins", str(folder), "--port", str(port)]
        command += ["--data", str(data_dir), "--isolation", "sandbox"]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(1200):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
            answered = call_each(port, token, plugins)
            if answered != plugins:
                print(f"  {label}: only {answered} of {plugins} calls answered 200")
            time.sleep(2)  # the spares started by those calls
            after_calls = tree_memory(process.pid)
            time.sleep(70)
            after_idle = tree_memory(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
        results[label] = (after_calls, after_idle)
        for when, m in (("after calls", after_calls), ("idle 70 s", after_idle)):
            print(
                f"  {label:4} {when:11}: server RSS {m['server']:.0f} MB, {m['workers']:.0f} "
                f"workers, tree RSS {m['rss']:.0f} MB, PSS {m['pss']:.0f} MB"
            )
    for index, when in ((0, "with their workers, just called"), (1, "idle 70 s")):
        many, none = results["many"][index], results["none"][index]
        print(
            f"{count} sandboxed plugins {when}: add {many['pss'] - none['pss']:.0f} MB PSS "
            f"({many['rss'] - none['rss']:.0f} MB RSS) (target idle <= 300)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--idle-plugins", type=int, default=200)
    parser.add_argument(
        "--parts",
        default="http,floor,calls,find_one,start,busy,idle",
        help="which parts to run, by name",
    )
    parser.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "tessera-bench-sandbox"
    )
    args = parser.parse_args()
    parts = args.parts.split(",")
    args.data.mkdir(parents=True, exist_ok=True)
    if "http" in parts:
        http_part(args, args.data)
    if "floor" in parts:
        floor_part()
    if "calls" in parts or "find_one" in parts:
        from tessera.http.listener import new_event_loop

        os.sched_setaffinity(0, {0})  # as the servers above: the workers inherit CPU 0
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            if "calls" in parts:
                runner.run(calls_part(args.data))
            if "find_one" in parts:
                runner.run(find_one_part(args.data))
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    if "start" in parts:
        start_part(args.data)
    if "busy" in parts:
        busy_part(args.data)
    if "idle" in parts:
        idle_part(args.data, args.idle_plugins)


if __name__ == "__main__":
    main()
