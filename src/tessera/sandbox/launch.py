"""How a worker process is started: its command line and environment.

The one place the OS-level confinement (:mod:`tessera.sandbox.confinement`) is applied.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WORKER_MODULE = "tessera.sandbox.worker"


def command(name: str, folder: Path, fd: int) -> list[str]:
    """The worker's command line: Python in isolated mode (no environment variables, no
    user site, no current folder on the path), serving plugin ``name`` on ``fd``."""
    return [sys.executable, "-I", "-m", WORKER_MODULE, str(fd), name, str(folder)]


def environment() -> dict[str, str]:
    """The worker's environment: nothing of the server's (tokens, store URLs, secrets)."""
    return {"PATH": os.defpath, "LANG": "C.UTF-8"}


def mechanism() -> str:
    """The confinement in use, for ``/health`` and the docs."""
    return "none"
