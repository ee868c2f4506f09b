"""OS-level confinement of a sandbox worker: what it may see, call and use.

Three layers, each doing what it is made for:

- bubblewrap (``wrap_command``) gives the worker namespaces of its own and a file system
  holding only the interpreter, the runtime's packages and its plugin's folder: the data
  folder, the token secret, other plugins and the server's /proc and environment are not
  there; without network it has no network interface but loopback, down.
- seccomp (``confine_self``) refuses fork, exec, new sockets, ptrace and the other ways
  out of the process, for every thread, for good.
- rlimits (``confine_self``) bound address space, CPU time and open files.

There is no silent fallback: ``mechanism()`` raises ``SandboxUnavailable`` when a layer
cannot be set up on this machine, and sandbox mode must not start then.
"""

from __future__ import annotations

import functools
import json
import os
import resource
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tessera.sandbox import bubblewrap, syscalls

MECHANISM = "bubblewrap+seccomp+rlimits"


class SandboxUnavailable(RuntimeError):
    """Raised when this machine cannot confine a worker; the message says what is missing."""


@dataclass(frozen=True)
class Limits:
    """Per-worker resource limits, applied with ``setrlimit`` inside the worker.

    ``cpu_seconds`` counts over the worker's whole life, not per call: a worker that
    reaches it is killed (SIGXCPU, then SIGKILL a second later); the pool replaces one
    past half of it between calls, so reaching it takes a single call that long.
    """

    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 60
    open_files: int = 128
    #: The worker's nice value: the server's event loop, at 0, weighs about nine times a
    #: busy worker when both want a core (scheduler weights 1024 and 110).
    nice: int = 10


@dataclass(frozen=True)
class Confinement:
    """What one worker may reach.

    ``plugin_dir`` is the only plugin folder it can read (never write). ``network`` lets it
    open sockets on the host's network, as a manifest may ask. ``hidden`` names secret
    paths (the data folder, the token secret) to cover even if they lie inside a folder the
    worker can read, such as the virtual environment.
    """

    plugin_dir: Path
    network: bool = False
    limits: Limits = field(default_factory=Limits)
    hidden: tuple[Path, ...] = ()

    def encode(self) -> str:
        """One command-line argument from which the worker rebuilds it (``decode``)."""
        fields = {**asdict(self), "plugin_dir": str(self.plugin_dir)}
        return json.dumps({**fields, "hidden": [str(p) for p in self.hidden]})

    @classmethod
    def decode(cls, argument: str) -> Confinement:
        fields = json.loads(argument)
        return cls(
            Path(fields["plugin_dir"]),
            bool(fields["network"]),
            Limits(**fields["limits"]),
            tuple(Path(p) for p in fields["hidden"]),
        )


def wrap_command(
    argv: list[str], confinement: Confinement, env: Mapping[str, str] | None = None
) -> list[str]:
    """``argv`` prefixed so it runs inside bubblewrap with ``confinement``'s view.

    Its environment is only ``env`` plus a few neutral variables (PATH, HOME=/tmp, LANG).
    File descriptors the caller passes (``subprocess.Popen(..., pass_fds=[fd])``) stay
    open inside. The Popen's pid is bubblewrap's: killing it ends the worker too.
    """
    return bubblewrap.command(
        argv,
        confinement.plugin_dir,
        confinement.network,
        confinement.hidden,
        env or {},
        confinement.limits.nice,
    )


def confine_self(confinement: Confinement) -> None:
    """Apply the limits and the seccomp filter to this process; call it first thing in the
    worker, before importing plugin code. Irreversible."""
    limits = confinement.limits
    _limit(resource.RLIMIT_AS, limits.memory_bytes)
    # The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL if it was ignored.
    _limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)
    _limit(resource.RLIMIT_NOFILE, limits.open_files)
    _limit(resource.RLIMIT_CORE, 0)
    _yield_to_server(limits.nice)
    syscalls.install(confinement.network)


def _yield_to_server(nice: int) -> None:
    """Run below the server: a lower priority (``nice``, with no way back up), and the
    batch policy, under which a worker woken by the server's frame does not preempt it:
    the server goes on with what is ready (other requests, other workers' frames) before
    the workers run, rather than switching process at every frame (on one core under
    load, the server's involuntary switches went from 1.5 a call to 0.02). The seccomp
    filter keeps the policy."""
    _limit(resource.RLIMIT_NICE, 0)  # the ceiling for raising priority again: none
    # A process group of its own, in the server's session (and so its scheduling group):
    # kill(0, ...) and the terminal's signals reach the worker alone.
    os.setpgid(0, 0)
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (soft, soft if hard is None else hard))


@functools.cache
def mechanism() -> str:
    """What confines workers here, for /health and the docs; raises ``SandboxUnavailable``
    naming every missing piece when the sandbox cannot hold on this machine."""
    missing = [why for why in (bubblewrap.unavailable(), syscalls.available()) if why]
    if missing:
        raise SandboxUnavailable("sandbox mode cannot confine plugins here: " + "; ".join(missing))
    return MECHANISM
