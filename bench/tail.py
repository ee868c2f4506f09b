"""Where the `list` plugin's latency under load goes: a measured account, not a guess.

Run ``.venv/bin/python bench/tail.py`` after ``bench/http.py`` has filled its store (it
reuses ``--data``, by default the same folder). It starts one ``tessera serve`` pinned to
CPU 0, instrumented from inside the process, and loads the ``list`` plugin with ``wrk
-t1 -c64 --latency`` pinned to CPU 1, as bench/http.py does. For each run it prints what
wrk saw beside what the server saw in the same seconds:

- every garbage collection, timed with ``gc.callbacks`` (count, total, longest);
- each request's time inside the ASGI app, and the gap between the end of one request
  and the start of the next on the same connection (keyed by the client's port): wrk's
  latency is at most their sum, so where wrk's tail exceeds both, the time was spent
  before the server read the request;
- when each connection was accepted (``connection_made``), and when its first request
  was answered, from the start of the run;
- per thread: CPU, time spent runnable but waiting for the core (``schedstat``), so
  store threads, the writer and preemption by other processes show;
- with ``--lag``, the event loop's lateness on a 5 ms timer.

``--root`` measures another checkout's code (a git worktree of an older commit) with
this venv, as bench/http.py does; ``--switch`` overrides the switch interval `tessera
serve` sets.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import gc
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# The server side: this file run with ``--serve``, the rest of argv going to `tessera`.


class Probe:
    """Counters kept inside the server; reset on SIGUSR2, written out on SIGUSR1."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.reset()
        self._gc_start = (0.0, 0)

    def reset(self, *_: Any) -> None:
        self.t0 = time.perf_counter()
        self.collections: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.app: list[float] = []
        self.gaps: list[float] = []
        self.last_end: dict[int, float] = {}
        self.accepted: dict[int, float] = {}
        self.first_end: dict[int, float] = {}
        self.lag: list[float] = []
        self.threads = thread_times()

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = (time.perf_counter(), info["generation"])
        else:
            started, generation = self._gc_start
            self.collections[generation].append(time.perf_counter() - started)

    def dump(self, *_: Any) -> None:
        now = thread_times()
        threads = {}
        for name, (cpu, run, wait) in now.items():
            cpu0, run0, wait0 = self.threads.get(name, (0.0, 0, 0))
            if run - run0 > 1_000_000:  # more than 1 ms on a core in the run
                threads[name] = {
                    "cpu_s": round(cpu - cpu0, 2),
                    "runnable_but_waiting_ms": round((wait - wait0) / 1e6, 1),
                }
        report = {
            "gc": {
                str(gen): {
                    "n": len(xs),
                    "total_ms": sum(xs) * 1e3,
                    "max_ms": max(xs, default=0) * 1e3,
                }
                for gen, xs in self.collections.items()
            },
            "app_ms": quantiles(self.app),
            "gap_ms": quantiles(self.gaps),
            "lag_ms": quantiles(self.lag),
            "accepted_ms": sorted(round((t - self.t0) * 1e3) for t in self.accepted.values()),
            "first_answered_ms": sorted(
                round((t - self.t0) * 1e3) for t in self.first_end.values()
            ),
            "threads": threads,
        }
        Path(self.out).write_text(json.dumps(report))


def quantiles(values: list[float]) -> dict[str, float]:
    xs = sorted(values)
    if not xs:
        return {}
    at = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}
    return {k: round(xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3, 2) for k, q in at.items()}


def thread_times() -> dict[str, tuple[float, int, int]]:
    """Per thread: CPU seconds, nanoseconds on a core, nanoseconds runnable but waiting."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            run, wait, _ = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()
        except OSError:
            continue
        name = "loop" if int(tid) == os.getpid() else f"thread {tid}"
        times[name] = ((int(stat[11]) + int(stat[12])) / tick, int(run), int(wait))
    return times


def serve(argv: list[str]) -> None:
    import uvicorn
    from uvicorn.protocols.http import httptools_impl

    import tessera.cli as cli

    probe = Probe(os.environ["TAIL_OUT"])
    gc.callbacks.append(probe.on_gc)
    signal.signal(signal.SIGUSR1, probe.dump)
    signal.signal(signal.SIGUSR2, probe.reset)

    tune = cli.tune_interpreter

    def tune_interpreter() -> None:
        tune()
        if os.environ.get("TAIL_SWITCH"):
            sys.setswitchinterval(float(os.environ["TAIL_SWITCH"]))

    cli.tune_interpreter = tune_interpreter

    made = httptools_impl.HttpToolsProtocol.connection_made

    def connection_made(self: Any, transport: Any) -> None:
        probe.accepted[transport.get_extra_info("peername")[1]] = time.perf_counter()
        made(self, transport)

    httptools_impl.HttpToolsProtocol.connection_made = connection_made  # type: ignore[method-assign]

    async def lag() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            probe.lag.append(loop.time() - before - 0.005)

    run = uvicorn.run

    def timed_run(app: Any, *args: Any, **kwargs: Any) -> None:
        inner = app

        async def timed(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await inner(scope, receive, send)
            if os.environ.get("TAIL_LAG") and not probe.lag:
                probe.lag.append(0.0)
                asyncio.get_running_loop().create_task(lag())
            start = time.perf_counter()
            try:
                await inner(scope, receive, send)
            finally:
                end = time.perf_counter()
                probe.app.append(end - start)
                port = scope["client"][1]
                last = probe.last_end.get(port)
                if last is None:
                    probe.first_end[port] = end
                else:
                    probe.gaps.append(start - last)
                probe.last_end[port] = end

        run(timed, *args, **kwargs)

    uvicorn.run = timed_run
    sys.argv = ["tessera", *argv]
    cli.main()


# The driver.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tessera-bench")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--switch", type=float, help="switch interval, seconds")
    parser.add_argument("--lag", action="store_true", help="time the loop on a 5 ms timer")
    args = parser.parse_args()
    if not (args.data / "tokens.txt").exists():
        sys.exit(f"no store in {args.data}: run bench/http.py first")
    from bench.loadgen import free_port, wait_ready, wrk_script

    work = Path(tempfile.mkdtemp(prefix="tessera-tail-"))  # not in the data folder
    script = work / "tail.lua"
    script.write_text(wrk_script(str(args.data / "tokens.txt"), '{"action": "list"}'))
    port = free_port()
    out = work / "probe.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(args.root / "src"), str(ROOT)])}
    env["TAIL_OUT"] = str(out)
    if args.switch:
        env["TAIL_SWITCH"] = str(args.switch)
    if args.lag:
        env["TAIL_LAG"] = "1"
    command = ["taskset", "-c", "0", sys.executable, __file__, "--serve", "serve"]
    command += ["--plugins", str(args.data / "plugins"), "--data", str(args.data)]
    command += ["--log-level", "warning", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/execute/list"
    print(f"{args.root}: wrk -t1 -c{args.connections}, {args.runs} runs of {args.duration} s")

    def wrk(seconds: int) -> str:
        load = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--latency"]
        return subprocess.run(
            ["taskset", "-c", "1", *load, "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    try:
        wait_ready(f"http://127.0.0.1:{port}/", server)
        wrk(3)  # warm up
        for _ in range(args.runs):
            os.kill(server.pid, signal.SIGUSR2)
            time.sleep(0.05)
            output = wrk(args.duration)
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(0.3)
            report(output, json.loads(out.read_text()))
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(output: str, seen: dict[str, Any]) -> None:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"\s(50|90|99)%\s+(\S+)", output))
    top = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    print(f"wrk: {rps:.0f} req/s, p50 {pct['50']}, p90 {pct['90']}, p99 {pct['99']}, max {top}")
    for gen, figures in seen["gc"].items():
        print(
            f"  gc generation {gen}: {figures['n']} collections, {figures['total_ms']:.1f} ms "
            f"in all, longest {figures['max_ms']:.2f} ms"
        )
    print(f"  inside the app, a request (ms): {seen['app_ms']}")
    print(f"  one connection's end of request to its next start (ms): {seen['gap_ms']}")
    if seen["lag_ms"]:
        print(f"  loop lateness on a 5 ms timer (ms): {seen['lag_ms']}")
    accepted, first = seen["accepted_ms"], seen["first_answered_ms"]
    if accepted:
        print(
            f"  {len(accepted)} connections accepted from {accepted[0]} to {accepted[-1]} ms; "
            f"their first answers from {first[0] if first else '-'} to "
            f"{first[-1] if first else '-'} ms"
        )
    for name, figures in seen["threads"].items():
        print(f"  {name}: {figures}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
    else:
        main()
