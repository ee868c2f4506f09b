"""CPU time per plugin call that plans and entitlements add, in-process: steady where the
HTTP figures of ``bench/http.py --cases entitlements`` drift by more than what is measured.

Run ``.venv/bin/python bench/entitlements.py``. One process runs three runtimes on one
embedded store in turn, round after round: no plans file (the baseline), a plans file
with a no-op plugin that has no entitlements.yaml, and a plugin whose action needs a
feature and consumes one of a monthly limit, charged to the store when the call succeeds.
Each serves the same calls as ``POST /api/execute`` does once the body is read
(``call_plugin``), 64 at a time, for 1,000 users whose tokens carry a plan. It prints the
CPU time (every thread: the store's writer too) per call, and what each adds to the
baseline, the median of the rounds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import shutil
import tempfile
import time

from bench.http import GATED_ENTITLEMENTS, PLANS_FILE, PLUGINS

from tessera.auth.identity import Identity
from tessera.http.execute import call_plugin
from tessera.runtime import Runtime
from tessera.settings import Settings

AT_ONCE = 64


def prepare(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for name in ("noop", "gated"):
        (folder / "plugins" / name).mkdir(parents=True)
        (folder / "plugins" / name / "logic.py").write_text(PLUGINS["noop"])
    (folder / "plugins" / "gated" / "entitlements.yaml").write_text(GATED_ENTITLEMENTS)
    (folder / "plans.json").write_text(PLANS_FILE)


async def cpu_per_call(folder: Path, plans: str, plugin: str, calls: int) -> float:
    """Microseconds of CPU per call, after a warm-up that loads every user's counter."""
    values = {"plugins": folder / "plugins", "data": folder / "data", "plans": plans}
    runtime = Runtime(Settings.load({**values, "watchdog_threshold": 0}, environ={}))
    await runtime.start()
    try:
        target = runtime.plugins.callable(plugin)
        limits = runtime.executor.limits(target)
        users = [
            Identity(f"user{u:04d}", f"user{u:04d}", "default", plan="pro") for u in range(1000)
        ]

        async def run(count: int) -> None:
            for start in range(0, count, AT_ONCE):
                await asyncio.gather(
                    *(
                        call_plugin(runtime, target, {"action": "list"}, users[i % 1000], limits)
                        for i in range(start, start + AT_ONCE)
                    )
                )

        await run(2000)
        started = time.process_time()
        await run(calls)
        return (time.process_time() - started) / calls * 1e6
    finally:
        await runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per server per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tessera-bench-entitlements-"))
    prepare(folder)
    plans = str(folder / "plans.json")
    cases = [("no plans file", "", "noop"), ("plans, no entitlements", plans, "noop")]
    cases.append(("plans, gated and charged", plans, "gated"))
    runs: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    try:
        for _ in range(args.rounds):
            for name, plans_file, plugin in cases:
                runs[name].append(asyncio.run(cpu_per_call(folder, plans_file, plugin, args.calls)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = runs["no plans file"]
    for name, values in runs.items():
        median = sorted(values)[len(values) // 2]
        line = f"  {name:26} {median:6.1f} us CPU per call"
        if values is not base:
            added = sorted(v - b for v, b in zip(values, base, strict=True))
            line += f"   adds {added[len(added) // 2]:5.1f} us (rounds: "
            line += ", ".join(f"{v - b:.1f}" for v, b in zip(values, base, strict=True)) + ")"
        print(line, flush=True)


if __name__ == "__main__":
    main()
