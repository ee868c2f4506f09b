"""Text a plugin gave (an error, a refused value, a log line), cut to a bound before it
goes into the server's log or an answer: a plugin's strings may be megabytes."""

from __future__ import annotations

__all__ = ["cut"]


def cut(text: str, limit: int, *, tail: bool = False) -> str:
    """``text`` within ``limit`` characters, saying how many were cut: its start, or its
    end when ``tail`` (a traceback's last lines say what was raised)."""
    if len(text) <= limit:
        return text
    said = f"[{len(text) - limit} characters cut]"
    return said + text[-limit:] if tail else text[:limit] + said
