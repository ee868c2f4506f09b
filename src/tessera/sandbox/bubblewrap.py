"""The worker's view of the machine, built by bubblewrap (``bwrap``).

bubblewrap is the unprivileged sandbox Flatpak runs every application in: it creates new
namespaces (mount, PID, network, IPC, UTS, user, cgroup) and an empty root, then mounts
only what it is told. The worker sees the Python interpreter, the packages it imports, its
own plugin folder (read-only), a small private /tmp, and a /proc that shows only itself.
Everything else (the data folder, the token secret, other plugins, the server's /proc) is
not hidden by permissions but absent from its file system.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

# Packages the worker imports: the runtime, and the names the contract lets plugins import.
RUNTIME_PACKAGES = ("tessera", "core", "mozaiks_infra", "mozaiks_platform")
# What Python and libc read at start, and, with network, to resolve names and check TLS.
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
NETWORK_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
)
TMP_BYTES = 64 * 1024 * 1024
NOBODY = "65534"
BASE_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
}


def command(
    argv: list[str],
    plugin_dir: Path,
    network: bool,
    hidden: Iterable[Path],
    env: Mapping[str, str],
    nice: int = 0,
) -> list[str]:
    """``argv`` run by bwrap in a fresh sandbox (see the module docstring), at ``nice``
    from its first instruction."""
    plugin = plugin_dir.resolve()
    visible = readable_paths()
    args = ["--unshare-all", *(["--share-net"] if network else [])]
    # No --disable-userns (bubblewrap 0.8+): the seccomp filter already refuses unshare,
    # setns and clone of a process, and the worker has no capabilities for the rest.
    args += ["--unshare-user", "--uid", NOBODY, "--gid", NOBODY]
    # No --new-session: a session is an autogroup, which the scheduler weighs as much as
    # the server's whole group whatever the worker's nice value. The worker stays in the
    # server's; what a session of its own kept from it, the terminal, is covered instead:
    # /dev/tty is /dev/null, and the seccomp filter refuses TIOCSTI and setsid.
    args += ["--cap-drop", "ALL", "--die-with-parent", "--hostname", "worker"]
    args += _root_skeleton()
    # Mounted first: a plugin folder under /tmp is then bound over the private /tmp. /proc
    # is read-only: /proc/self/autogroup would set the weight of the server's group.
    args += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev"]
    args += ["--ro-bind", "/dev/null", "/dev/tty"]
    args += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    for path in visible:
        args += ["--ro-bind", str(path), str(path)]
    for name in (*SYSTEM_FILES, *(NETWORK_FILES if network else ())):
        args += ["--ro-bind-try", name, name]
    args += ["--ro-bind", str(plugin), str(plugin)]
    args += _covers(hidden, [Path("/usr"), *visible, plugin])
    args += ["--chdir", str(plugin), "--clearenv"]
    for key, value in {**BASE_ENV, **env}.items():
        args += ["--setenv", key, value]
    # bwrap itself stays as the sandbox's PID 1, whose /proc/1/environ the worker can read:
    # `env -i` starts it with an empty environment, so the server's never gets in. `nice`
    # lowers it before bubblewrap and Python start (about 100 ms of CPU a worker), which
    # would otherwise run at the server's priority until the worker confines itself.
    niced = [nice_program(), "-n", str(nice)] if nice else []
    return [env_program(), "-i", *niced, bwrap_program(), *args, "--", *argv]


def readable_paths() -> list[Path]:
    """The interpreter's installation, the virtual environment and the runtime's packages:
    each folder once, none inside another."""
    found = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.add(Path(location).resolve().parent)
    return [p for p in sorted(found) if not any(o != p and p.is_relative_to(o) for o in found)]


def _root_skeleton() -> list[str]:
    """/usr (libc and the shared libraries) and the merged-/usr links to it."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


def _covers(hidden: Iterable[Path], mounted: list[Path]) -> list[str]:
    """Empty mounts over secret paths that happen to lie inside a mounted folder."""
    args: list[str] = []
    for path in (p.resolve() for p in hidden):
        if not any(path.is_relative_to(m) for m in mounted) or not path.exists():
            continue
        args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return args


def env_program() -> str:
    return shutil.which("env") or "/usr/bin/env"


def nice_program() -> str:
    return shutil.which("nice") or "/usr/bin/nice"


def bwrap_program() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise FileNotFoundError(
            "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        )
    return found


@functools.cache
def unavailable() -> str | None:
    """Why bubblewrap cannot build a sandbox on this machine, or None when it can.

    Checked once by running ``true`` in the same namespaces a worker gets: a missing
    binary, user namespaces switched off (``kernel.unprivileged_userns_clone=0``, an
    AppArmor rule) or a container without the privilege to create them all fail here.
    """
    try:
        argv = command(["/usr/bin/true"], Path(sys.prefix), False, (), {})
    except FileNotFoundError as exc:
        return str(exc)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        return f"bwrap cannot create a sandbox here: {done.stderr.strip() or done.returncode}"
    return None
