"""Realtime benchmark: many WebSockets on one Tessera process, pushed to by a plugin.

Run ``.venv/bin/python bench/realtime.py`` (``--connections 500 --rate 200 --duration 3``
for a quick run). It starts one ``tessera serve`` (isolation enforced, the default) pinned
to CPU 0 and, pinned to CPU 1, ``--clients`` processes holding the WebSockets (the
``websockets`` library, one user each, token in ``Sec-WebSocket-Protocol``) and one load
process calling a ``push`` plugin over HTTP with the target user's token; the plugin calls
``websocket_manager.send_to_user``. Processes talk to this one in JSON lines on their
stdin and stdout. It measures:

- **memory per idle connection**: the server's RSS after every socket has connected and
  settled, minus its RSS before the first, divided by the count;
- **delivery latency**: the load process calls ``push`` at ``--rate`` calls per second to
  random users, on a fixed schedule, stamping each message with ``time.monotonic()``
  (system-wide on Linux); each socket records the time to receipt. Messages sent and
  received must be equal;
- **reconnect storm**: every socket drops its TCP connection at the same instant and
  reconnects with ``?last_seq=`` the last ``seq`` it saw, while messages keep coming at a
  lower rate; the time until all are connected again, then a check that each user received
  every ``seq`` of its sequence once and in order.

It ends with one table of each figure against its target. The sockets do not offer
permessage-deflate unless ``--deflate`` is given: browsers do offer it, and then the server
keeps zlib state for each socket, which the memory figure then shows.
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
import itertools
import os
import random
import re
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvloop
from bench.loadgen import free_port, wait_ready
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tessera.runtime import local_tokens
from tessera.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PLUGINS = {
    "push": (
        "from core.websocket_manager import websocket_manager\n\n\n"
        "async def execute(data: dict) -> dict:\n"
        "    message = {'type': 'bench', 'sent': data['sent']}\n"
        "    return {'seq': await websocket_manager.send_to_user(data['user_id'], message)}\n"
    ),
}
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
TARGET_KB = 30.0
TARGET_P99_MS = 20.0
TARGET_STORM_S = 10.0


# --- the processes holding the WebSockets ------------------------------------------------


@dataclass(eq=False)
class UserSocket:
    """One user's WebSocket and everything it received."""

    user: str
    token: str
    last_seq: int = 0
    seqs: list[int] = field(default_factory=list)  # the bench messages' seq, as received
    resyncs: int = 0
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None


class SocketHolder:
    """A client process: opens its users' sockets, drops and resumes them on command."""

    def __init__(self, port: int, users: list[tuple[str, str]], handshakes: int, deflate: bool):
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.sockets = [UserSocket(user, token) for user, token in users]
        self.latencies: list[float] = []  # seconds, since the last "latencies" command
        self.retries = 0
        self.last_error = ""
        # A real storm has every browser retry at once; this many handshakes in flight at
        # a time keeps the server's listen backlog from overflowing into SYN retries.
        self.handshakes = asyncio.Semaphore(handshakes)
        self.compression = "deflate" if deflate else None

    async def open(self, socket: UserSocket, resume: bool) -> None:
        """Connect until the server's ``connected`` greeting arrives; retry on failure."""
        url = f"{self.url}?last_seq={socket.last_seq}" if resume else self.url
        for attempt in range(30):
            try:
                async with self.handshakes:
                    ws = await connect(
                        url,
                        subprotocols=["mozaiks", socket.token],  # type: ignore[list-item]
                        compression=self.compression,
                        ping_interval=None,
                        open_timeout=60,
                        max_queue=None,
                    )
                    greeting = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                break
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                self.retries += 1
                self.last_error = repr(exc)
                if attempt == 29:
                    raise RuntimeError(f"{socket.user} cannot connect: {exc!r}") from exc
                await asyncio.sleep(0.2)
        if greeting.get("type") != "connected":
            raise RuntimeError(f"{socket.user}: unexpected greeting {greeting}")
        if not resume:
            socket.last_seq = greeting["last_seq"]
        socket.ws = ws
        socket.reader = asyncio.create_task(self.read(socket, ws))

    async def read(self, socket: UserSocket, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                received = time.monotonic()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "bench":
                    self.latencies.append(received - message["sent"])
                    socket.seqs.append(message["seq"])
                    socket.last_seq = message["seq"]
                elif kind == "resync":
                    socket.resyncs += 1
        except ConnectionClosed:
            pass

    async def connect_all(self) -> dict[str, Any]:
        started = time.monotonic()
        await asyncio.gather(*(self.open(s, resume=False) for s in self.sockets))
        return {"connected": len(self.sockets), "seconds": time.monotonic() - started}

    async def storm(self, at: float) -> dict[str, Any]:
        """At ``at`` (monotonic), drop every TCP connection, then resume each one."""
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        dropped = time.monotonic()
        for socket in self.sockets:
            assert socket.ws is not None
            socket.ws.transport.abort()  # as a network failure: no close handshake

        async def resume(socket: UserSocket) -> None:
            assert socket.reader is not None
            await socket.reader  # what arrived before the drop has been read
            await self.open(socket, resume=True)

        await asyncio.gather(*(resume(s) for s in self.sockets))
        return {"dropped_at": dropped, "connected_at": time.monotonic()}

    def handle(self, command: dict[str, Any]) -> Any:
        name = command["command"]
        if name == "connect":
            return self.connect_all()
        if name == "storm":
            return self.storm(command["at"])
        if name == "count":
            return {"received": sum(len(s.seqs) for s in self.sockets)}
        if name == "latencies":
            latencies, self.latencies = self.latencies, []
            return {"latencies": latencies}
        if name == "report":
            return {
                "seqs": {s.user: s.seqs for s in self.sockets},
                "resyncs": sum(s.resyncs for s in self.sockets),
                "retries": self.retries,
                "last_error": self.last_error,
            }
        raise ValueError(f"unknown command {name}")


# --- the process calling the push plugin -------------------------------------------------


class KeepAlive:
    """One HTTP/1.1 keep-alive connection posting JSON, one request at a time.

    httpx costs about 0.8 ms of CPU per call on this machine, so 2,000 calls/s would need
    more than the core the load side shares with the sockets; writing the request and
    reading a ``Content-Length`` answer by hand costs about 60 us.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = CONTENT_LENGTH.search(head)
            if length is None:
                raise ValueError(f"no Content-Length in {head!r}")
            answer = await reader.readexactly(int(length.group(1)))
        except BaseException:
            self.streams = None
            writer.close()
            raise
        return int(head[9:12]), answer


class Pusher:
    """The load process: calls ``push`` for random users on a fixed schedule."""

    def __init__(self, port: int, tokens: list[str], pool: int) -> None:
        self.tokens = tokens
        self.connections = [KeepAlive(port) for _ in range(pool)]
        self.stop = asyncio.Event()
        self.rng = random.Random(7)

    async def call(self, connection: KeepAlive, user: int, results: dict[str, Any]) -> None:
        sent = time.monotonic()
        try:
            body = orjson.dumps({"sent": sent})
            status, answer = await connection.post("/api/execute/push", self.tokens[user], body)
            if status != 200:
                raise ValueError(f"HTTP {status}: {answer[:200]!r}")
            results["seqs"].append((user, orjson.loads(answer)["seq"]))
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            results["errors"] += 1
            results["last_error"] = repr(exc)

    async def run(self, rate: float, duration: float | None) -> dict[str, Any]:
        """Call ``push`` number ``i`` at ``start + i / rate`` (later when every connection
        is busy), for ``duration`` seconds or until ``stop``."""
        self.stop.clear()
        results: dict[str, Any] = {"seqs": [], "errors": 0, "late": 0.0}
        due: asyncio.Queue[float | None] = asyncio.Queue()

        async def caller(connection: KeepAlive) -> None:
            while (at := await due.get()) is not None:
                results["late"] = max(results["late"], time.monotonic() - at)
                await self.call(connection, self.rng.randrange(len(self.tokens)), results)

        callers = [asyncio.create_task(caller(c)) for c in self.connections]
        start = time.monotonic()
        i = 0
        while not self.stop.is_set():
            at = start + i / rate
            if duration is not None and at >= start + duration:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            due.put_nowait(at)
            i += 1
        for _ in callers:
            due.put_nowait(None)
        await asyncio.gather(*callers)
        results["seconds"] = time.monotonic() - start
        return results

    def handle(self, command: dict[str, Any]) -> Any:
        name = command["command"]
        if name == "run":
            return self.run(command["rate"], command.get("duration"))
        if name == "stop":
            self.stop.set()
            return None
        raise ValueError(f"unknown command {name}")


async def serve_commands(worker: SocketHolder | Pusher) -> None:
    """Run each command line from stdin as a task; answer each with one JSON line (a
    command answering None has no answer)."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    running: set[asyncio.Task[None]] = set()

    async def answer(command: dict[str, Any]) -> None:
        result = worker.handle(command)
        if asyncio.iscoroutine(result):
            result = await result
        if result is not None:
            sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
            sys.stdout.buffer.flush()

    sys.stdout.buffer.write(orjson.dumps({"ready": True}) + b"\n")
    sys.stdout.buffer.flush()
    while line := await stdin.readline():
        task = asyncio.create_task(answer(orjson.loads(line)))
        running.add(task)
        task.add_done_callback(running.discard)


def child_main(args: argparse.Namespace) -> None:
    """The entry point of the client and load processes."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lines = Path(args.tokens).read_text().splitlines()
    users = [(user, token) for user, token in (line.split("\t") for line in lines)]

    async def run() -> None:
        worker: SocketHolder | Pusher
        if args.role == "load":
            worker = Pusher(args.port, [token for _, token in users], args.pool)
        else:
            mine = users[args.index :: args.clients]
            worker = SocketHolder(args.port, mine, args.handshakes // args.clients, args.deflate)
        await serve_commands(worker)

    uvloop.run(run())


# --- this process: the server, the children, the figures --------------------------------


class Child:
    """A client or load process, pinned to CPU 1, driven by JSON lines."""

    def __init__(self, role: str, extra: list[str]) -> None:
        command = [PYTHON, __file__, "--role", role, *extra]
        self.process = subprocess.Popen(
            ["taskset", "-c", "1", *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self.reply()  # ready

    def send(self, command: str, **params: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps({"command": command, **params}) + b"\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.process.args!r} exited with {self.process.wait()}")
        return orjson.loads(line)

    def ask(self, command: str, **params: Any) -> dict[str, Any]:
        self.send(command, **params)
        return self.reply()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def ask_all(children: list[Child], command: str, **params: Any) -> list[dict[str, Any]]:
    """Send ``command`` to every child at once, then collect the answers."""
    for child in children:
        child.send(command, **params)
    return [child.reply() for child in children]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def prepare(folder: Path, connections: int) -> tuple[Path, Path, str]:
    """The data and plugins folders, a token per user (``user\\ttoken`` lines), and a
    token for the warm-up user."""
    data, plugins = folder / "data", folder / "plugins"
    for name, code in PLUGINS.items():
        (plugins / name).mkdir(parents=True)
        (plugins / name / "logic.py").write_text(code)
    issuer = local_tokens(Settings.load({"data": data}, environ={}))
    tokens = folder / "tokens.txt"
    users = [f"user{u:05d}" for u in range(connections)]
    tokens.write_text("\n".join(f"{u}\t{issuer.issue(u, ttl_seconds=86400)}" for u in users))
    return data, plugins, issuer.issue("warmup", ttl_seconds=86400)


async def warm_up(port: int, token: str) -> None:
    """A few sockets and pushes first, so the baseline RSS includes what the first
    connection and the first push load or allocate once."""
    url = f"ws://127.0.0.1:{port}/ws"
    protocols: list[Any] = ["mozaiks", token]
    sockets = [await connect(url, subprotocols=protocols, max_queue=None) for _ in range(20)]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        for _ in range(50):
            answer = await client.post("/api/execute/push", json={"sent": time.monotonic()})
            answer.raise_for_status()
    await asyncio.gather(*(ws.close() for ws in sockets))


def wait_delivered(clients: list[Child], expected: int, seconds: float = 15) -> int:
    """Poll the clients until they received ``expected`` bench messages in all."""
    deadline = time.monotonic() + seconds
    while True:
        received = sum(r["received"] for r in ask_all(clients, "count"))
        if received >= expected or time.monotonic() > deadline:
            return received
        time.sleep(0.2)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0.0


def check_sequences(
    received: dict[str, list[int]], acknowledged: dict[str, list[int]]
) -> dict[str, int]:
    """Each user must have received 1, 2, ..., n in order, once each, including every
    ``seq`` the push calls returned for that user."""
    problems = {"lost": 0, "duplicated": 0, "out of order": 0, "users in error": 0}
    for user, seqs in received.items():
        acked = set(acknowledged.get(user, ()))
        lost = len(acked - set(seqs))
        duplicated = len(seqs) - len(set(seqs))
        disordered = sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        # A seq numbered by a call that failed on the way back still fills the sequence.
        gap = bool(seqs) and sorted(set(seqs)) != list(range(1, max(seqs) + 1))
        problems["lost"] += lost + (1 if gap and not lost else 0)
        problems["duplicated"] += duplicated
        problems["out of order"] += disordered
        problems["users in error"] += bool(lost or duplicated or disordered or gap)
    return problems


def start_server(folder: Path, data: Path, plugins: Path, port: int) -> subprocess.Popen[bytes]:
    log = (folder / "server.log").open("wb")
    command = [
        *(PYTHON, "-m", "tessera", "serve", "--plugins", str(plugins), "--data", str(data)),
        *("--port", str(port), "--log-level", "warning"),
    ]
    return subprocess.Popen(
        ["taskset", "-c", "0", *command], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )


Row = tuple[str, str, str, bool | None]  # figure, value, target, met (None: no target)


class Run:
    """One server, its client and load processes, and the figures measured so far."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.rows: list[Row] = []
        self.users = [f"user{u:05d}" for u in range(args.connections)]
        self.acknowledged: dict[str, list[int]] = {}  # each user's seqs, as push returned them
        data, plugins, self.warm_token = prepare(folder, args.connections)
        self.port = free_port()
        self.server = start_server(folder, data, plugins, self.port)
        self.clients: list[Child] = []
        self.loader: Child | None = None

    def start_children(self) -> None:
        args = self.args
        common = ["--port", str(self.port), "--tokens", str(self.folder / "tokens.txt")]
        common += ["--clients", str(args.clients), "--handshakes", str(args.handshakes)]
        common += ["--deflate"] if args.deflate else []
        self.clients = [Child("client", [*common, "--index", str(i)]) for i in range(args.clients)]
        self.loader = Child("load", [*common, "--pool", str(args.pool)])

    def close(self) -> None:
        for child in [*self.clients, *([self.loader] if self.loader else [])]:
            child.close()
        self.server.terminate()
        self.server.wait(timeout=10)

    def record(self, result: dict[str, Any]) -> int:
        """Keep the seqs a load run was given; return how many pushes succeeded."""
        for user, seq in result["seqs"]:
            self.acknowledged.setdefault(self.users[user], []).append(seq)
        return len(result["seqs"])

    def connect(self) -> None:
        """Open every socket; the server's RSS before and after is the memory figure."""
        wait_ready(f"http://127.0.0.1:{self.port}/", self.server)
        asyncio.run(warm_up(self.port, self.warm_token))
        time.sleep(1)
        before = rss_kb(self.server.pid)
        self.start_children()
        n = self.args.connections
        print(f"connecting {n} WebSockets from {self.args.clients} processes ...")
        started = time.monotonic()
        connected = sum(r["connected"] for r in ask_all(self.clients, "connect"))
        took = time.monotonic() - started
        print(f"  {connected} connected in {took:.1f} s ({connected / took:.0f}/s)")
        time.sleep(2)
        after = rss_kb(self.server.pid)
        per_connection = (after - before) / connected
        print(f"  server RSS {before / 1024:.1f} MB -> {after / 1024:.1f} MB")
        self.rows.append(("connections", f"{connected}", f"{n}", connected == n))
        self.rows.append(
            (
                "memory per idle connection",
                f"{per_connection:.1f} KB",
                f"<= {TARGET_KB:.0f} KB",
                per_connection <= TARGET_KB,
            )
        )

    def deliver(self) -> None:
        """Push at the full rate; delivery latency, losses, and what the CPUs did."""
        args, loader = self.args, self.loader
        assert loader is not None
        print(f"send_to_user at {args.rate}/s for {args.duration:g} s to random users ...")
        ask_all(self.clients, "latencies")  # start afresh
        load_side = [child.process.pid for child in [*self.clients, loader]]
        server_before, load_before = cpu_seconds([self.server.pid]), cpu_seconds(load_side)
        result = loader.ask("run", rate=args.rate, duration=args.duration)
        server_cpu = (cpu_seconds([self.server.pid]) - server_before) / result["seconds"]
        load_cpu = (cpu_seconds(load_side) - load_before) / result["seconds"]
        sent = self.record(result)
        achieved = sent / result["seconds"]
        received = wait_delivered(self.clients, sent)
        latencies = sorted(x for r in ask_all(self.clients, "latencies") for x in r["latencies"])
        p50, p99, worst = (percentile(latencies, q) * 1000 for q in (50, 99, 100))
        print(
            f"  sent {sent} ({result['errors']} errors), received {received}; "
            f"{achieved:.0f}/s achieved, schedule lag at most {result['late'] * 1000:.0f} ms"
        )
        print(
            f"  CPU busy: server {server_cpu:.0%} of CPU 0 "
            f"({server_cpu * 1e6 / max(achieved, 1):.0f} us per push), "
            f"sockets and loader {load_cpu:.0%} of CPU 1"
        )
        if achieved < 0.95 * args.rate:
            print(
                f"  the loader could not keep {args.rate}/s: every one of its {args.pool} "
                "connections waited for the server"
                if load_cpu < 0.9
                else f"  the loader could not keep {args.rate}/s: CPU 1 is saturated"
            )
        if result["errors"]:
            print(f"  last error: {result['last_error']}")
        self.rows += [
            ("delivery p50", f"{p50:.1f} ms", "", None),
            ("delivery p99", f"{p99:.1f} ms", f"<= {TARGET_P99_MS:.0f} ms", p99 <= TARGET_P99_MS),
            ("delivery max", f"{worst:.1f} ms", "", None),
            ("server CPU busy during pushes", f"{server_cpu:.0%}", "", None),
            (
                "messages sent / received",
                f"{sent} / {received}",
                "equal",
                sent == received and not result["errors"],
            ),
            (
                "achieved push rate",
                f"{achieved:.0f}/s",
                f"{args.rate}/s",
                achieved >= 0.95 * args.rate,
            ),
        ]

    def storm(self) -> None:
        """Drop every socket at once while pushes go on; time the return, then check
        every user's sequence over the whole run."""
        loader = self.loader
        assert loader is not None
        rate = max(10, self.args.rate // 10)
        print(f"reconnect storm: all drop at once, resume with last_seq; pushes at {rate}/s ...")
        loader.send("run", rate=rate, duration=None)
        time.sleep(1)
        cpu_before = cpu_seconds([self.server.pid])
        storm = ask_all(self.clients, "storm", at=time.monotonic() + 0.3)
        took = max(r["connected_at"] for r in storm) - min(r["dropped_at"] for r in storm)
        server_cpu = cpu_seconds([self.server.pid]) - cpu_before
        time.sleep(1)
        loader.send("stop")
        result = loader.reply()
        storm_sent = self.record(result)
        total = sum(len(seqs) for seqs in self.acknowledged.values())
        received = wait_delivered(self.clients, total)
        reports = ask_all(self.clients, "report")
        seqs = {user: s for r in reports for user, s in r["seqs"].items()}
        problems = check_sequences(seqs, self.acknowledged)
        resyncs = sum(r["resyncs"] for r in reports)
        retries = sum(r["retries"] for r in reports)
        print(
            f"  all {self.args.connections} connected again {took:.2f} s after the drop "
            f"({retries} handshakes retried); {storm_sent} pushes during the storm "
            f"({result['errors']} errors); server CPU {server_cpu:.1f} s"
        )
        if retries:
            print(
                f"  last handshake error: {next(r['last_error'] for r in reports if r['retries'])}"
            )
        print(
            f"  whole run: {total} pushes acknowledged, {received} received; "
            f"{problems}, {resyncs} resyncs"
        )
        bad = problems["lost"] + problems["duplicated"] + problems["out of order"] + resyncs
        self.rows += [
            (
                "storm: all connected again",
                f"{took:.2f} s",
                f"<= {TARGET_STORM_S:.0f} s",
                took <= TARGET_STORM_S,
            ),
            (
                "lost / duplicated / disordered",
                f"{problems['lost']} / {problems['duplicated']} / {problems['out of order']}",
                "0 / 0 / 0",
                bad == 0 and received == total,
            ),
        ]

    def server_log(self) -> None:
        log = (self.folder / "server.log").read_text().splitlines()
        if log:
            print(f"server log: {len(log)} lines, the last ones:")
            print("\n".join("  " + line for line in log[-5:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=2000, help="push calls per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of pushes")
    parser.add_argument("--clients", type=int, default=2, help="processes holding sockets")
    parser.add_argument("--pool", type=int, default=64, help="HTTP connections of the loader")
    parser.add_argument("--handshakes", type=int, default=1000, help="in flight at a time")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    # The child processes' own options.
    parser.add_argument("--role", choices=["client", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        child_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="tessera-realtime-") as tmp:
        bench = Run(args, Path(tmp))
        try:
            bench.connect()
            bench.deliver()
            bench.storm()
            bench.server_log()
        finally:
            bench.close()
    rows = bench.rows
    print()
    print(f"{'figure':<40} {'value':>16}  {'target':<10} met")
    for figure, value, target, met in rows:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"{figure:<40} {value:>16}  {target:<10} {verdict}")


if __name__ == "__main__":
    main()
