"""HTTP benchmark of the execute path, against baselines measured in the same run.

Run ``.venv/bin/python bench/http.py`` (``--users 100 --per-user 100 --rounds 1`` for a
quick run). It starts five servers pinned to CPU 0, with the load generator (wrk, from
Debian's package) pinned to CPU 1, all called with real bearer tokens:

- ``bare``: a bare ASGI app answering a fixed JSON body (the ceiling);
- ``plain``: a plain Starlette route verifying the token and running the per-user query
  on the same embedded store file (what one would write without Tessera);
- ``tessera noop``: Tessera, a plugin returning ``{"ok": true}``;
- ``tessera oidc``: the same no-op in OIDC mode, RS256 tokens checked against a JWKS the
  benchmark serves on a local port (``bench/jwks.py``), its baseline ``tessera noop``;
- ``tessera list``: Tessera, a plugin running the same per-user query (sort, limit 100),
  isolation enforced;
- ``tessera unsorted`` and ``tessera sorted``: the list every plugin sends, over a
  collection holding 1,000 documents for each of 100 users and only the runtime's own
  indexes: ``find({"user_id": u}).to_list(20)`` against the same find sorted by
  ``created_at`` descending (``--cases sort`` runs only these two).
- ``--cases entitlements``: the cost of plans and entitlements, tokens carrying a plan:
  ``tessera noop`` without a plans file against ``plans noop`` (a plans file, the no-op
  has no entitlements.yaml) and ``plans gated`` (each call checks a feature, holds one of
  a monthly limit and charges it when it succeeds). Prints the microseconds each adds to
  a call: one core's time per request, against the no-op's in the same round.
- ``tessera list x2``: the ``list`` plugin served by ``--workers 2`` (embedded store, no
  Redis), against ``tessera list`` with one worker (``--cases workers`` runs only these
  two). Both servers and wrk may use both CPUs here: a second worker needs the second
  core, so the load generator shares the cores with the servers.

The servers take turns under load, round after round, and each is reported by its median
round: this machine's speed drifts by tens of percent over a minute, and turns spread the
drift over all five. It prints requests/s, p50 and p99 for each, and the ratios the
performance targets use, each the median of the rounds' ratios (a server against its
baseline in the same round, seconds apart).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where this module's name
# would hide the standard library's `http` package from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import shutil
import subprocess
import tempfile
import time

from bench.jwks import LocalProvider
from bench.loadgen import free_port, wait_ready, wrk_script

from tessera.runtime import local_tokens
from tessera.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PLUGINS = {
    "noop": "async def execute(data: dict) -> dict:\n    return {'ok': True}\n",
    "list": (
        "from core.config.database import db\n\n\n"
        "async def execute(data: dict) -> dict:\n"
        "    items = await db['list_items'].find({'user_id': data['user_id']})"
        ".sort('created_at', -1).to_list(100)\n"
        "    for item in items:\n        item['_id'] = str(item['_id'])\n"
        "    return {'items': items, 'count': len(items)}\n"
    ),
}
# The list every plugin sends, sorted and not, on a collection whose only indexes are the
# ones the runtime makes itself (`user_id`, and the sort's: docs/isolation.md).
_RECENT = (
    "from core.config.database import db\n\n\n"
    "async def execute(data: dict) -> dict:\n"
    "    items = await db['notes'].find({'user_id': data['user_id']})%s.to_list(20)\n"
    "    for item in items:\n        item['_id'] = str(item['_id'])\n"
    "    return {'items': items, 'count': len(items)}\n"
)
PLUGINS["unsorted"] = _RECENT % ""
PLUGINS["sorted"] = _RECENT % ".sort('created_at', -1)"
SORT_USERS = 100  # each with `--per-user` notes
PLANS_FILE = (
    '{"subscription_plans": [{"name": "pro", "plugins_unlocked": ["*"]}],'
    ' "settings": {"default_plan": "pro"}}'
)
GATED_ENTITLEMENTS = """schema_version: "1.0"
plugin: gated
features:
  listing: {default: false}
limits:
  lists_per_month: {type: consumable, reset: monthly, default: 0}
tiers:
  pro:
    features: {listing: true}
    limits: {lists_per_month: 1000000000}
actions:
  list:
    requires_features: [listing]
    consumes: {lists_per_month: 1}
"""


async def fill_store(data: Path, users: int, per_user: int) -> None:
    from tessera.store import open_client

    client = open_client(str(data / "store.db"))
    items = client["default"]["list_items"]
    await items.create_index([("user_id", 1), ("created_at", -1)])
    # The runtime makes this one at a plugin's first touch: made here, the first run does
    # not measure its build (a store thread busy for about 30 s at 1M documents).
    await items.create_index("user_id")
    base = dt.datetime(2024, 1, 1)
    rng = random.Random(7)
    batch = []
    for i in range(per_user):
        for u in range(users):
            batch.append(
                {
                    "user_id": f"user{u:05d}",
                    "created_at": base + dt.timedelta(seconds=i * users + u),
                    "title": f"item {i} of user {u} " + "x" * rng.randint(40, 80),
                    "status": rng.choice(["open", "done"]),
                    "tags": ["work", "home"],
                }
            )
            if len(batch) == 10_000:
                await items.insert_many(batch)
                batch = []
    if batch:
        await items.insert_many(batch)
    notes = client["default"]["notes"]
    await notes.create_index("user_id")  # as the runtime does on a plugin's first touch
    for i in range(per_user):
        await notes.insert_many(
            [
                {
                    "user_id": f"user{u:05d}",
                    "created_at": base + dt.timedelta(seconds=i * SORT_USERS + u),
                    "title": f"note {i} of user {u} " + "x" * rng.randint(40, 80),
                    "done": rng.random() < 0.5,
                }
                for u in range(SORT_USERS)
            ]
        )
    await client.close()


def prepare(data: Path, users: int, per_user: int) -> Path:
    """The data folder (store, secret), the plugins and the token list; reused when the
    same size was prepared before."""
    marker = data / f"prepared-{users}x{per_user}-notes"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        print(f"filling the store: {users} users x {per_user} documents ...", flush=True)
        started = time.perf_counter()
        asyncio.run(fill_store(data, users, per_user))
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
        marker.touch()
    plugins = data / "plugins"
    for name, code in PLUGINS.items():
        (plugins / name).mkdir(parents=True, exist_ok=True)
        (plugins / name / "logic.py").write_text(code)
    tokens = data / "tokens.txt"
    issuer = local_tokens(Settings.load({"data": data}, environ={}))
    minted = "\n".join(
        issuer.issue(f"user{u:05d}", ttl_seconds=86400) for u in range(min(users, 1000))
    )
    tokens.write_text(minted)
    (plugins / "gated").mkdir(exist_ok=True)
    (plugins / "gated" / "logic.py").write_text(PLUGINS["noop"])
    (plugins / "gated" / "entitlements.yaml").write_text(GATED_ENTITLEMENTS)
    (data / "plans.json").write_text(PLANS_FILE)
    (data / "plan-tokens.txt").write_text(
        "\n".join(
            issuer.issue(f"user{u:05d}", ttl_seconds=86400, plan="pro")
            for u in range(min(users, 1000))
        )
    )
    (data / "sort-tokens.txt").write_text("\n".join(minted.splitlines()[:SORT_USERS]))
    return tokens


def oidc_server(
    provider: LocalProvider, data: Path, tessera: list[str], users: int
) -> tuple[list[str], str, dict[str, str], Path]:
    """The no-op server in OIDC mode against ``provider``: command, URL, environment, and a
    wrk script posting its RS256 tokens."""
    tokens = data / "tokens-oidc.txt"
    tokens.write_text("\n".join(provider.token(f"user{u:05d}") for u in range(min(users, 1000))))
    script = data / "bench-oidc.lua"
    script.write_text(wrk_script(str(tokens), '{"action": "list"}'))
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/execute/noop"
    return [*tessera, "--port", str(port)], url, provider.environ(), script


def run_wrk(
    url: str, script: Path, duration: int, connections: int, cpus: str = "1"
) -> dict[str, float]:
    output = subprocess.run(
        [
            "taskset",
            "-c",
            cpus,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_server(
    command: list[str], url: str, env: dict[str, str], cpus: str = "0"
) -> subprocess.Popen:
    """Start a server pinned to ``cpus`` and return once ``url``'s origin answers."""
    process = subprocess.Popen(
        ["taskset", "-c", cpus, *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_ready("/".join(url.split("/", 3)[:3]) + "/", process)
    return process


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s (its own p50 and p99 with it)."""
    return sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]


def round_ratios(runs: list[dict[str, float]], baseline: list[dict[str, float]]) -> list[float]:
    """Requests/s against the baseline's in the same round: turns seconds apart, so a
    drift in the machine's speed touches both sides of each ratio alike."""
    return [run["rps"] / base["rps"] for run, base in zip(runs, baseline, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all the servers")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "tessera-bench")
    parser.add_argument(
        "--cases",
        choices=["all", "execute", "sort", "entitlements", "workers"],
        default="all",
        help="execute: bare, plain, noop, list; sort: unsorted and sorted lists; "
        "entitlements: noop against plans noop and plans gated; workers: list with one "
        "worker and with two",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    tokens = prepare(args.data, args.users, args.per_user)
    script = args.data / "bench.lua"
    script.write_text(wrk_script(str(tokens), '{"action": "list"}'))
    sort_script = args.data / "sort.lua"
    sort_script.write_text(wrk_script(str(args.data / "sort-tokens.txt"), "{}"))
    # ROOT/src first: the checkout's own Tessera, even from another worktree's venv.
    env = {**os.environ, "BENCH_DATA": str(args.data)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    # The baselines do no more per request than `tessera serve` does: no access log, no
    # proxy-headers pass, no `server` header.
    uvicorn = [PYTHON, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    uvicorn += ["--no-proxy-headers", "--no-server-header"]
    tessera = [PYTHON, "-m", "tessera", "serve", "--plugins", str(args.data / "plugins")]
    tessera += ["--data", str(args.data), "--log-level", "warning"]
    servers: dict[str, tuple[list[str], str]] = {}
    execute = args.cases in ("all", "execute")
    sort = args.cases in ("all", "sort")
    workers = args.cases == "workers"
    # Both cores for the servers and the load generator alike when a server has two workers.
    server_cpus, load_cpus = ("0,1", "0,1") if workers else ("0", "1")
    baselines = [("bare", "bench.apps.bare:app", "/"), ("plain", "bench.apps.plain:app", "/list")]
    for name, module, path in baselines if execute else []:
        port = free_port()
        servers[name] = ([*uvicorn, "--port", str(port), module], f"http://127.0.0.1:{port}{path}")
    plugins = [*(("noop", "list") if execute else ()), *(("unsorted", "sorted") if sort else ())]
    plugins += ["list"] if workers else []
    for plugin in plugins:
        port = free_port()
        url = f"http://127.0.0.1:{port}/api/execute/{plugin}"
        servers[f"tessera {plugin}"] = ([*tessera, "--port", str(port)], url)
    entitled = args.cases == "entitlements"
    if entitled:
        plans = ["--plans", str(args.data / "plans.json")]
        for name, plugin, extra in [
            ("tessera noop", "noop", []),
            ("plans noop", "noop", plans),
            ("plans gated", "gated", plans),
        ]:
            port = free_port()
            url = f"http://127.0.0.1:{port}/api/execute/{plugin}"
            servers[name] = ([*tessera, *extra, "--port", str(port)], url)
        script.write_text(wrk_script(str(args.data / "plan-tokens.txt"), '{"action": "list"}'))
    if workers:
        port = free_port()
        url = f"http://127.0.0.1:{port}/api/execute/list"
        servers["tessera list x2"] = ([*tessera, "--workers", "2", "--port", str(port)], url)
    scripts = {name: sort_script if name.endswith("sorted") else script for name in servers}
    envs: dict[str, dict[str, str]] = {}
    provider = LocalProvider()
    if execute:
        command, url, oidc_env, oidc_script = oidc_server(provider, args.data, tessera, args.users)
        servers["tessera oidc"] = (command, url)
        scripts["tessera oidc"] = oidc_script
        envs["tessera oidc"] = {**env, **oidc_env}
    order = [
        n for n in ("bare", "tessera noop", "tessera oidc", "plain", "tessera list") if n in servers
    ]
    order += [n for n in ("tessera unsorted", "tessera sorted", "tessera list x2") if n in servers]
    order += [n for n in ("plans noop", "plans gated") if entitled]
    print(
        f"wrk -t1 -c{args.connections}, {args.rounds} rounds of {args.duration} s per server, "
        f"servers on CPU {server_cpus}, load on CPU {load_cpus}; the median round of each"
    )
    # All run at once (idle but the one under load) and take turns in each round,
    # so a drift in the machine's speed during the run touches every server alike.
    processes = {
        name: start_server(command, url, envs.get(name, env), server_cpus)
        for name, (command, url) in servers.items()
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for name, (_, url) in servers.items():
            # The first sorted calls start the runtime's index for the sort, built in the
            # background in about a second: the sort case warms up for longer.
            warm = 6 if name == "tessera sorted" else 2
            run_wrk(url, scripts[name], warm, args.connections, load_cpus)
        for _ in range(args.rounds):
            # Each server right after its baseline: the pairs of a ratio are seconds apart.
            for name in order:
                url = servers[name][1]
                run = run_wrk(url, scripts[name], args.duration, args.connections, load_cpus)
                runs[name].append(run)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=30)
        provider.close()
    results = {name: median_run(name_runs) for name, name_runs in runs.items()}
    for name, result in results.items():
        spread = [f"{run['rps']:.0f}" for run in runs[name]]
        print(
            f"  {name:16} {result['rps']:9.0f} req/s  p50 {result['p50']:7.2f} ms  "
            f"p99 {result['p99']:7.2f} ms  non-2xx {result['errors']:.0f}  "
            f"(rounds in order: {', '.join(spread)})",
            flush=True,
        )
    print()
    print("ratios: the median of the rounds' ratios (each round's in brackets)")
    for label, name, baseline, target in [
        ("tessera noop / bare ASGI  ", "tessera noop", "bare", 0.5),
        ("tessera list / plain route", "tessera list", "plain", 0.8),
        ("sorted list / unsorted    ", "tessera sorted", "tessera unsorted", 0.7),
        ("tessera oidc / local noop ", "tessera oidc", "tessera noop", 0.9),
        ("list --workers 2 / 1      ", "tessera list x2", "tessera list", 1.35),
    ]:
        if name not in runs or baseline not in runs:
            continue
        ratios = round_ratios(runs[name], runs[baseline])
        each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        median = sorted(ratios)[len(ratios) // 2]
        print(f"{label} = {median:.2f}   ({each}; target >= {target})")
    if entitled:
        print("microseconds each adds to a call (per request on one core; each round's):")
        for label, name, target in [
            ("plans, plugin without entitlements", "plans noop", "nothing measurable"),
            ("plans, gated and charged call      ", "plans gated", "<= 50 us"),
        ]:
            added = [
                1e6 / run["rps"] - 1e6 / base["rps"]
                for run, base in zip(runs[name], runs["tessera noop"], strict=True)
            ]
            median = sorted(added)[len(added) // 2]
            each = ", ".join(f"{a:.1f}" for a in added)
            print(f"  {label} = {median:.1f} us   ({each}; target {target})")
    if "tessera list" in results:
        p99 = results["tessera list"]["p99"]
        print(f"tessera list p99           = {p99:.1f} ms (target <= 20)")
    if sort:
        print(f"indexes of notes after the run: {', '.join(notes_indexes(args.data))}")


def notes_indexes(data: Path) -> list[str]:
    """The indexes the sort case's collection ended with (the runtime makes them)."""
    from tessera.store import open_client

    async def read() -> list[str]:
        client = open_client(str(data / "store.db"))
        try:
            return list(await client["default"]["notes"].index_information())
        finally:
            await client.close()

    return asyncio.run(read())


if __name__ == "__main__":
    main()
