"""One user attacks the server's time and memory; another user's calls must keep answering.

Run ``.venv/bin/python bench/freeze.py``. It starts ``tessera serve`` on the plugins of
``bench/apps/freeze`` and measures the victim's calls (a listing, an insert and a
synchronous plugin) twice in the same run: alone (the baseline), then while the attacker
runs, at once:

- a catastrophic regular expression from the client (``^(a+)+$`` on 28-character titles
  of the attacker's own documents), in two loops;
- a ``$range`` bomb (``[0, 4e7]``: 1.6 GB before the store's memory limits), in a loop;
- 32 synchronous calls that block their worker threads until the end;
- heavy work on the attacker's own documents (each summing a 400-long ``$range``): two
  aggregation loops and an ``update_many`` loop over ``HEAVY_DOCUMENTS`` documents.

The victim lists, inserts and calls a synchronous plugin. It prints each phase's p50
and p99 and the share of 200 answers; the target is every victim call answered 200 with
p99 under 1 s during the attack. ``tests/isolation/test_freeze.py`` runs the same scenario
(smaller) and asserts the answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from bench.loadgen import free_port, wait_ready

PLUGINS = Path(__file__).resolve().parent / "apps" / "freeze"
CATASTROPHIC = "^(a+)+$"
RANGE_BOMB = 40_000_000
SLEEPERS = 32
HEAVY_DOCUMENTS = 20_000

Client = Callable[[str], httpx.Client]


@dataclass
class Attack:
    """The attacker's threads, running until :meth:`stop`."""

    client: Client
    release: Path
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    #: How many documents the heavy loops work on.
    heavy_documents: int = HEAVY_DOCUMENTS
    #: Whether the sleepers still held their threads when the victim finished.
    held_throughout: bool = False

    def start(self) -> None:
        with self.client("mallory") as mallory:
            mallory.post("/api/execute/search", json={"action": "seed"}).raise_for_status()
            seed = {"action": "seed", "count": self.heavy_documents}
            mallory.post("/api/execute/heavy", json=seed).raise_for_status()
        self._loop("regex", "search", {"pattern": CATASTROPHIC}, copies=2)
        self._loop("range", "bomb", {"size": RANGE_BOMB}, copies=1)
        self._loop("aggregate", "heavy", {"action": "aggregate"}, copies=2)
        self._loop("update", "heavy", {"action": "update"}, copies=1)
        for _ in range(SLEEPERS):
            self._spawn(self._once, "sleep", "sleepy", {"release": str(self.release)})

    def stop(self) -> None:
        self.release.touch()
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _loop(self, kind: str, plugin: str, body: dict, copies: int) -> None:
        for _ in range(copies):
            self._spawn(self._repeat, kind, plugin, body)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _repeat(self, kind: str, plugin: str, body: dict) -> None:
        with self.client("mallory") as mallory:
            while not self.stopping.is_set():
                self._call(mallory, kind, plugin, body)

    def _once(self, kind: str, plugin: str, body: dict) -> None:
        with self.client("mallory") as mallory:
            self._call(mallory, kind, plugin, body)

    def _call(self, mallory: httpx.Client, kind: str, plugin: str, body: dict) -> None:
        try:
            status = mallory.post(f"/api/execute/{plugin}", json=body).status_code
        except httpx.HTTPError:
            status = 0
        self.answers.setdefault(kind, []).append(status)


def victim_calls(client: Client, rounds: int) -> tuple[list[int], list[float]]:
    """Alice's listing and synchronous calls: their statuses and latencies in seconds."""
    statuses, latencies = [], []
    with client("alice") as alice:
        alice.post("/api/execute/mine", json={"action": "add", "title": "x"}).raise_for_status()
        for n in range(rounds):
            calls = (("mine", {}), ("mine", {"action": "add", "title": "y"}), ("tick", {"n": n}))
            for plugin, body in calls:
                started = time.perf_counter()
                statuses.append(alice.post(f"/api/execute/{plugin}", json=body).status_code)
                latencies.append(time.perf_counter() - started)
    return statuses, latencies


def under_attack(
    client: Client, release: Path, rounds: int, heavy_documents: int = HEAVY_DOCUMENTS
) -> tuple[Attack, list[int], list[float]]:
    """The victim's calls while the attack runs; the sleepers are released only after."""
    attack = Attack(client, release, heavy_documents=heavy_documents)
    attack.start()
    time.sleep(1.0)  # every loop has started, every sleeper has its thread or waits
    try:
        statuses, latencies = victim_calls(client, rounds)
        attack.held_throughout = not release.exists()
    finally:
        attack.stop()
    return attack, statuses, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="victim calls per plugin")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data, port = Path(folder) / "data", free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tessera",
                "serve",
                "--plugins",
                str(PLUGINS),
                "--data",
                str(data),
                "--port",
                str(port),
                "--plugin-timeout",
                "5",
                "--log-level",
                "error",
            ],
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + "/health", server)
            report(url, data, Path(folder) / "release", args.rounds)
        finally:
            server.terminate()
            server.wait(30)


def report(url: str, data: Path, release: Path, rounds: int) -> None:
    from tessera.runtime import local_tokens
    from tessera.settings import Settings

    issuer = local_tokens(Settings.load({"data": data}, environ={}))

    def client(user: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {issuer.issue(user)}"}
        return httpx.Client(base_url=url, headers=headers, timeout=60)

    quiet_statuses, quiet = victim_calls(client, rounds)
    attack, statuses, latencies = under_attack(client, release, rounds)
    for name, values, answered in (
        ("alone", quiet, quiet_statuses),
        ("attacked", latencies, statuses),
    ):
        ok = sum(s == 200 for s in answered) / len(answered)
        print(
            f"victim {name:8}: {len(values)} calls, {ok:.0%} answered 200, "
            f"p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.1f} ms"
        )
    print(
        f"p99 attacked / alone: {percentile(latencies, 0.99) / percentile(quiet, 0.99):.1f}x "
        "(target: every call 200, p99 under 1 s)"
    )
    for kind, answers in sorted(attack.answers.items()):
        print(f"attacker {kind:5}: {len(answers)} calls, statuses {sorted(set(answers))}")


if __name__ == "__main__":
    main()
