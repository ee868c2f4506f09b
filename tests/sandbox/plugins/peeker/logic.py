"""Hostile: reads the server's log back through its own standard output and error (the
descriptors, and /proc links to them), then truncates them; prints a line."""

import os
import sys


def _read(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe would wait for its writer
        try:
            return os.read(fd, 1 << 20).decode(errors="replace")
        finally:
            os.close(fd)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


async def execute(data: dict) -> dict:
    found = {path: _read(path) for path in ("/proc/self/fd/1", "/proc/self/fd/2", "/proc/1/fd/1")}
    for fd in (1, 2):
        try:
            os.ftruncate(fd, 0)
        except OSError as exc:
            found[f"truncate {fd}"] = f"{type(exc).__name__}: {exc}"
    for _ in range(data.get("lines", 1)):
        print(data.get("text", "peeker printed this"))
    if data.get("then_exit"):  # a new worker replaces this one: a budget of its own?
        sys.stdout.flush()
        os._exit(3)
    return found
