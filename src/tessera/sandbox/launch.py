"""How a worker process is started and confined: the one place the OS-level confinement
(:mod:`tessera.sandbox.confinement`) is applied."""

from __future__ import annotations

import sys

from tessera.sandbox import confinement
from tessera.sandbox.confinement import Confinement

WORKER_MODULE = "tessera.sandbox.worker"


def command(name: str, fd: int, confined: Confinement) -> list[str]:
    """The worker's command line: Python in isolated mode, inside bubblewrap, serving
    plugin ``name`` on ``fd``; the worker confines itself further from the last argument."""
    argv = [sys.executable, "-I", "-m", WORKER_MODULE, str(fd), name]
    argv += [str(confined.plugin_dir), confined.encode()]
    return confinement.wrap_command(argv, confined)


def confine_worker(argument: str) -> None:
    """In the worker, before the plugin is imported: limits and the seccomp filter, as
    the server's ``command`` wrote them."""
    confinement.confine_self(Confinement.decode(argument))


def mechanism() -> str:
    """The confinement in use; SandboxUnavailable when this machine cannot confine."""
    return confinement.mechanism()


def environment() -> dict[str, str]:
    """bubblewrap's own environment: nothing of the server's (the worker's is set inside)."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
