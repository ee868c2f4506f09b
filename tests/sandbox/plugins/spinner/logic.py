"""Hostile: spins forever on the loop (a busy loop no timeout can interrupt in-process)."""

import re


async def execute(data: dict) -> dict:
    if data.get("action") == "spin":
        while True:
            pass
    if data.get("action") == "regex":  # catastrophic backtracking
        re.match(r"(a+)+$", "a" * 64 + "b")
    return {"ok": True}
