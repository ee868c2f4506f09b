"""What OS confinement adds to a sandbox worker's start, against the same worker unconfined.

Run ``.venv/bin/python bench/confinement.py`` (``--runs 30``). The target (issue 17):
a worker starts within 150 ms.

Each round spawns, in turn, the same worker script three ways, with one end of a socket
pair inherited as its channel, and times from the spawn until the worker says it is ready:

- ``plain``: ``python -c WORKER`` (imports the plugin loader, then answers);
- ``bwrap``: the same inside ``wrap_command``'s bubblewrap sandbox, without ``confine_self``;
- ``confined``: inside the sandbox and after ``confine_self`` (rlimits and the seccomp
  filter), as sandbox mode runs it; the worker also reports how long ``confine_self`` took.

Wall time, and the worker's own CPU time until ready (steadier on a shared machine; it
leaves out bubblewrap's, which the wall time includes), are printed as median and max, with
the ratio to ``plain`` measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tessera.sandbox.confinement import Confinement, mechanism, wrap_command

WORKER = r"""
import resource, socket, sys, time
import tessera.plugins.loader
from pathlib import Path
from tessera.sandbox.confinement import Confinement, confine_self

spent = 0.0
if sys.argv[2] == "confine":
    start = time.perf_counter()
    confine_self(Confinement(Path(sys.argv[3])))
    spent = time.perf_counter() - start
used = resource.getrusage(resource.RUSAGE_SELF)
reply = f"{spent} {used.ru_utime + used.ru_stime}\n"
socket.socket(fileno=int(sys.argv[1])).sendall(reply.encode())
"""
WAYS = ("plain", "bwrap", "confined")


def spawn(way: str, plugin_dir: Path) -> tuple[float, float, float]:
    """Wall seconds to ready, the worker's CPU seconds until then, confine_self's seconds."""
    ours, theirs = socket.socketpair()
    mode = "confine" if way == "confined" else "none"
    argv = [sys.executable, "-c", WORKER, str(theirs.fileno()), mode, str(plugin_dir)]
    if way != "plain":
        argv = wrap_command(argv, Confinement(plugin_dir))
    start = time.perf_counter()
    process = subprocess.Popen(argv, pass_fds=[theirs.fileno()])
    theirs.close()
    answer = ours.makefile().readline().split()
    wall = time.perf_counter() - start
    process.wait()
    ours.close()
    return wall, float(answer[1]), float(answer[0])


def summary(label: str, values: list[float], baseline: list[float]) -> str:
    ratio = statistics.median(values) / statistics.median(baseline)
    return (
        f"{label:>10}: median {statistics.median(values) * 1000:6.1f} ms, "
        f"max {max(values) * 1000:6.1f} ms, {ratio:4.2f}x plain"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"mechanism: {mechanism()}; {args.runs} rounds, the three ways alternated")
    with tempfile.TemporaryDirectory() as scratch:
        plugin_dir = Path(scratch)
        for way in WAYS:  # warm the page cache and the bytecode once, unmeasured
            spawn(way, plugin_dir)
        results: dict[str, list[tuple[float, float, float]]] = {way: [] for way in WAYS}
        for _ in range(args.runs):
            for way in WAYS:
                results[way].append(spawn(way, plugin_dir))
    for index, measure in ((0, "wall time to ready"), (1, "the worker's CPU time until ready")):
        print(measure)
        baseline = [r[index] for r in results["plain"]]
        for way in WAYS:
            print(summary(way, [r[index] for r in results[way]], baseline))
    inside = [r[2] * 1000 for r in results["confined"]]
    print(f"confine_self itself: median {statistics.median(inside):.1f} ms, max {max(inside):.1f}")


if __name__ == "__main__":
    main()
