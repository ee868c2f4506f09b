"""OS-level confinement of a worker, shown on real processes: what hostile plugin code tries
from inside ``wrap_command`` + ``confine_self`` and how each attempt fails."""

from __future__ import annotations

import errno
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tessera.sandbox.confinement import Confinement, Limits, mechanism
from tests.sandbox.confined import SERVER_ENV, one, plugin_tree, run, start

REFUSED = "PermissionError: [Errno 1] Operation not permitted"


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    return plugin_tree(tmp_path)


@pytest.fixture
def confined(tree: dict[str, Path]) -> Confinement:
    return Confinement(plugin_dir=tree["mine"])


def test_this_machine_confines_with_bubblewrap_seccomp_and_rlimits() -> None:
    assert mechanism() == "bubblewrap+seccomp+rlimits"


def test_the_worker_rebuilds_the_servers_confinement_from_one_argument(tmp_path: Path) -> None:
    confinement = Confinement(tmp_path, True, Limits(1, 2, 3), (tmp_path / "data",))
    assert Confinement.decode(confinement.encode()) == confinement


def test_the_data_folder_is_not_there(confined: Confinement, tree: dict[str, Path]) -> None:
    for name in ("token_secret", "tessera.db"):
        answer = one(confined, f"result = open({str(tree['data'] / name)!r}, 'rb').read()")
        assert answer["error"].startswith("FileNotFoundError"), answer
    assert one(confined, f"import os; result = os.path.exists({str(tree['data'])!r})") == {
        "ok": "False"
    }


def test_another_plugins_folder_cannot_be_read_or_written(
    confined: Confinement, tree: dict[str, Path]
) -> None:
    other = tree["other"]
    outcome = run(
        confined,
        f"result = open({str(other / 'logic.py')!r}).read()",
        f"import os; result = os.listdir({str(other.parent)!r})",
        f"open({str(other / 'evil.py')!r}, 'w').write('x')",
    )
    assert outcome.answers[0]["error"].startswith("FileNotFoundError")
    assert outcome.answers[1] == {"ok": "['mine']"}
    assert "evil.py" not in os.listdir(other)
    assert "error" in outcome.answers[2]


def test_its_own_folder_is_readable_but_not_writable(
    confined: Confinement, tree: dict[str, Path]
) -> None:
    mine = tree["mine"]
    outcome = run(
        confined,
        "result = open('__init__.py').read()",
        "open('__init__.py', 'a').write('# changed')",
        "import os; result = os.getcwd()",
    )
    assert outcome.answers[0] == {"ok": repr((mine / "__init__.py").read_text())}
    assert outcome.answers[1]["error"].startswith("OSError: [Errno 30] Read-only file system")
    assert outcome.answers[2] == {"ok": repr(str(mine))}


def test_a_secret_under_a_readable_folder_is_covered(tree: dict[str, Path]) -> None:
    secret_dir = tree["mine"] / "data"
    secret_dir.mkdir()
    (secret_dir / "token_secret").write_text("s3cret")
    (tree["mine"] / "accounts.db").write_text("hashes")
    hidden = (secret_dir, tree["mine"] / "accounts.db")
    confinement = Confinement(plugin_dir=tree["mine"], hidden=hidden)
    outcome = run(
        confinement,
        "import os; result = os.listdir('data')",
        "result = open('accounts.db').read()",
    )
    assert outcome.answers[0] == {"ok": "[]"}
    assert outcome.answers[1]["error"].startswith("PermissionError: [Errno 13]")


@pytest.mark.parametrize(
    "code",
    [
        "import os; result = os.fork()",
        "import subprocess; result = subprocess.run(['/usr/bin/true'])",
        "import os; os.execv('/usr/bin/true', ['true'])",
        "import os; os.posix_spawn('/usr/bin/true', ['true'], {})",
        "import multiprocessing; multiprocessing.Process(target=print).start()",
    ],
)
def test_no_new_process_or_program(confined: Confinement, code: str) -> None:
    assert one(confined, code)["error"].startswith(REFUSED)


def test_ctypes_cannot_call_around_python(confined: Confinement) -> None:
    """The filter is on system calls, so libc reached through ctypes is refused alike."""
    libc = "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
    after = "; result = (r, ctypes.get_errno())"
    eperm = {"ok": "(-1, 1)"}
    outcome = run(
        confined,
        f"{libc}r = libc.fork(){after}",
        f"{libc}r = libc.execv(b'/usr/bin/true', (ctypes.c_char_p * 2)(b'true', None)){after}",
        f"{libc}r = libc.socket(2, 1, 0){after}",
        f"{libc}r = libc.ptrace(16, 1, 0, 0){after}",  # PTRACE_ATTACH to bubblewrap
        f"{libc}r = libc.unshare(0x10000000){after}",  # CLONE_NEWUSER
    )
    assert outcome.answers == [eperm] * 5


# System calls a worker never needs, each with arguments for which a kernel without the
# filter answers something other than EPERM (in the comment): so EPERM shows the filter
# refused it. (fsopen, fsmount, fspick, move_mount, reboot, swapon, acct, syslog and
# settimeofday are filtered too, but the kernel checks the capability the worker lacks
# first: EPERM either way, so they cannot show the filter here.)
PID = "__import__('os').getpid()"
ESCAPES = {
    "open_tree": "-100, b'.', 0",  # a file descriptor
    "fsconfig": "-1, 0, None, None, 0",  # EINVAL
    "mount_setattr": "-100, b'.', 0, None, 0",  # EINVAL
    "mount": "None, None, None, 0, None",  # EFAULT
    "umount2": "None, 0xFFFF",  # EINVAL
    "chroot": "None",  # EFAULT
    "pidfd_open": f"{PID}, 0",  # a pidfd
    "pidfd_getfd": "-1, -1, 0xFFFF",  # EINVAL
    "process_vm_readv": f"{PID}, None, 0, None, 0, 0",  # 0
    "process_vm_writev": f"{PID}, None, 0, None, 0, 0",  # 0
    "ptrace": f"0x7FFF, {PID}, 0, 0",  # ESRCH
    "kcmp": f"{PID}, {PID}, 0x7FFF, 0, 0",  # EINVAL
    "userfaultfd": "1 | 0x100000",  # EINVAL
    "perf_event_open": "None, 0, -1, -1, 0",  # EFAULT
    "bpf": "0x7FFF, None, 0",  # EINVAL
    "keyctl": "0x7FFF, 0, 0, 0, 0",  # EOPNOTSUPP
    "add_key": "None, None, None, 0, 0",  # EFAULT
    "request_key": "None, None, None, 0",  # EFAULT
    "unshare": "0x1",  # EINVAL
    "setns": "-1, 0",  # EBADF
    "name_to_handle_at": "-1, None, None, None, 0xFFFF",  # EINVAL
    "open_by_handle_at": "-1, None, 0",  # EFAULT
    "init_module": "None, 0, None",  # EFAULT, or ENOSYS without modules
    "finit_module": "-1, None, 0xFFFF",  # EINVAL or ENOSYS
    "delete_module": "None, 0",  # EFAULT or ENOSYS
    "kexec_load": "0, 0, None, 0xFFFFFFFF",  # EINVAL or ENOSYS
    "kexec_file_load": "-1, -1, 0, None, 0xFFFFFFFF",  # EINVAL or ENOSYS
    "move_pages": f"{PID}, 0, None, None, None, 0xFFFF",  # EINVAL
    "migrate_pages": f"{PID}, 0, None, None",  # EINVAL
    "process_madvise": "-1, None, 0, 0, 0xFFFF",  # EINVAL
    "io_uring_setup": "0, None",  # EFAULT
    "clock_settime": "0x7FFF, None",  # EINVAL
    "clock_adjtime": "0x7FFF, None",  # EFAULT
    "adjtimex": "None",  # EFAULT
    "quotactl": "0, None, 0, None",  # ENODEV
}
SYSCALL = """
import ctypes
libc, seccomp = ctypes.CDLL(None, use_errno=True), ctypes.CDLL('libseccomp.so.2')
number = seccomp.seccomp_syscall_resolve_name({name!r}.encode())
ctypes.set_errno(0)
returned = libc.syscall(number, *[ctypes.c_long(a) if isinstance(a, int) else a for a in ({args},)])
result = (returned, ctypes.get_errno())
"""


def test_calls_that_reach_out_of_the_worker_are_refused(confined: Confinement) -> None:
    """Mounts (both APIs), other processes' memory, ptrace, pidfds, kernel keys, modules,
    kexec, bpf, perf, userfaultfd, namespaces, clocks: each refused, through ctypes."""
    snippets = [SYSCALL.format(name=name, args=args) for name, args in ESCAPES.items()]
    outcome = run(confined, *snippets)
    answers = dict(zip(ESCAPES, outcome.answers, strict=True))
    assert answers == {name: {"ok": f"(-1, {errno.EPERM})"} for name in ESCAPES}


# Machine code run through ctypes: fork by the 32-bit ABI (mov eax, 2; int 0x80; ret), which
# a filter written for x86-64's syscall numbers alone would let through (2 is `open` there).
I386_FORK = """
import ctypes, mmap
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes.fromhex('b802000000cd80c3'))
result = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
"""
X32_FORK = "import ctypes; result = ctypes.CDLL(None).syscall(0x40000000 | 57)"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the 32-bit and x32 ABIs of x86-64")
@pytest.mark.parametrize("code", [I386_FORK, X32_FORK], ids=["int-0x80", "x32"])
def test_another_abi_kills_the_worker(confined: Confinement, code: str) -> None:
    outcome = run(confined, code)
    assert outcome.answers == [{}]
    assert outcome.returncode == 128 + signal.SIGSYS


def test_threads_and_an_event_loop_still_work(confined: Confinement) -> None:
    outcome = run(
        confined,
        "import threading; t = threading.Thread(target=print); t.start(); t.join(); result = 1",
        "import asyncio; result = asyncio.run(asyncio.sleep(0, 'slept'))",
    )
    assert outcome.answers == [{"ok": "1"}, {"ok": "'slept'"}]


@pytest.fixture
def listener() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_no_network_unless_asked(tree: dict[str, Path], listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2); result = 1"
    assert one(Confinement(plugin_dir=tree["mine"]), connect) == {"error": REFUSED}
    assert one(Confinement(plugin_dir=tree["mine"], network=True), connect) == {"ok": "1"}


def test_the_network_is_not_the_hosts_local_sockets(tree: dict[str, Path]) -> None:
    """``network`` shares the host's network namespace, and with it the abstract Unix
    sockets of every process on the host (D-Bus, X11, containerd's shim: the escape of
    CVE-2020-15257): a worker with the network connected to one. Unix sockets are refused
    (a pair, as the event loop makes, stays: it reaches nothing outside the process)."""
    name = f"tessera-test-{os.getpid()}".encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as host_service:
        host_service.bind(b"\0" + name)
        host_service.listen()
        connect = (
            "import socket; s = socket.socket(socket.AF_UNIX); "
            f"s.connect(b'\\0' + {name!r}); result = 1"
        )
        pair = "import socket; a, b = socket.socketpair(); a.send(b'x'); result = b.recv(1)"
        networked = Confinement(plugin_dir=tree["mine"], network=True)
        assert run(networked, connect, pair).answers == [{"error": REFUSED}, {"ok": "b'x'"}]


def test_the_network_is_not_the_hypervisors_sockets(tree: dict[str, Path]) -> None:
    """Nor is a virtual machine's channel to its host (AF_VSOCK, 40): no namespace holds
    it, and a worker with the network could open one to the hypervisor's services."""
    vsock = "import socket; socket.socket(40, socket.SOCK_STREAM); result = 1"
    networked = Confinement(plugin_dir=tree["mine"], network=True)
    assert one(networked, vsock) == {"error": REFUSED}


def test_the_servers_environment_does_not_reach_it(confined: Confinement) -> None:
    outcome = run(
        confined,
        "import os; result = sorted(os.environ)",
        "result = open('/proc/1/environ', 'rb').read()",
        "import os; result = sorted(p for p in os.listdir('/proc') if p.isdigit())",
    )
    names = eval(outcome.answers[0]["ok"])
    assert not [n for n in names if n.startswith("TESSERA") or n in SERVER_ENV]
    assert outcome.answers[1] == {"ok": "b''"}  # bubblewrap, the sandbox's PID 1
    assert outcome.answers[2] == {"ok": "['1', '2']"}  # no process of the host's


def test_allocating_2_gb_fails(confined: Confinement) -> None:
    outcome = run(confined, "b = bytearray(2 * 1024**3)", "result = len(bytearray(10**6))")
    assert outcome.answers == [{"error": "MemoryError: "}, {"ok": "1000000"}]


def test_the_memory_limit_is_the_configured_one(tree: dict[str, Path]) -> None:
    small = Confinement(plugin_dir=tree["mine"], limits=Limits(memory_bytes=256 * 1024**2))
    assert one(small, "b = bytearray(400 * 1024**2)") == {"error": "MemoryError: "}


@pytest.mark.parametrize("ignore_sigxcpu", [False, True])
def test_a_busy_loop_is_killed_by_the_cpu_limit(
    tree: dict[str, Path], ignore_sigxcpu: bool
) -> None:
    confinement = Confinement(plugin_dir=tree["mine"], limits=Limits(cpu_seconds=1))
    ignore = "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
    outcome = run(confinement, (ignore if ignore_sigxcpu else "") + "while True: pass")
    assert outcome.answers == [{}]
    # bubblewrap reports a signal as 128 + its number.
    killed_by = signal.SIGKILL if ignore_sigxcpu else signal.SIGXCPU
    assert outcome.returncode == 128 + killed_by


def test_it_runs_below_the_server_and_cannot_climb_back(confined: Confinement) -> None:
    """A busy worker cannot crowd out the server's event loop: it runs niced from its start,
    under the batch policy (a wake-up does not preempt the server), threads included, for
    good."""
    in_thread = (
        "import os, threading; seen = []; t = threading.Thread(target=lambda: seen.append("
        "(os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)))); t.start(); "
        "t.join(); result = seen[0] == (os.SCHED_BATCH, 10)"
    )
    outcome = run(
        confined,
        "import os; result = os.sched_getscheduler(0) == os.SCHED_BATCH",
        "import os; result = os.getpriority(os.PRIO_PROCESS, 0)",
        in_thread,
        "import os; os.setpriority(os.PRIO_PROCESS, 0, 0)",
        "import os; os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))",
        "import resource; resource.setrlimit(resource.RLIMIT_NICE, (20, 20))",
        # bubblewrap, the sandbox's PID 1, started niced: so did Python's start.
        "result = int(open('/proc/1/stat').read().rsplit(')', 1)[1].split()[16])",
    )
    assert outcome.answers[:3] == [{"ok": "True"}, {"ok": "10"}, {"ok": "True"}]
    assert outcome.answers[6] == {"ok": "10"}
    assert outcome.answers[3]["error"].startswith("PermissionError: [Errno 13]")
    assert outcome.answers[4]["error"].startswith(REFUSED)
    assert outcome.answers[5]["error"].startswith("ValueError: not allowed to raise maximum")


def test_a_busy_worker_gets_a_small_share_of_a_core_the_server_wants(confined: Confinement):
    """Its nice value holds against the server: the worker is weighed in the server's own
    scheduling group. A session of its own (bubblewrap's ``--new-session``) is an
    autogroup of its own, which the scheduler weighs as much as the server's whole group:
    a busy worker then took half a core the server wanted, whatever its nice value."""
    cpu = min(os.sched_getaffinity(0))
    stop = threading.Event()

    def spin() -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        while not stop.is_set():
            pass

    server = threading.Thread(target=spin)
    server.start()
    worker = start(confined)
    try:
        clock = time.pthread_getcpuclockid(server.ident or 0)
        before = time.clock_gettime(clock)
        answer = worker.ask(
            f"import os, time; os.sched_setaffinity(0, {{{cpu}}}); start = time.process_time()"
            "\nend = time.monotonic() + 2\nwhile time.monotonic() < end: pass"
            "\nresult = time.process_time() - start"
        )
        served = time.clock_gettime(clock) - before
    finally:
        stop.set()
        server.join()
        worker.close()
    spent = float(answer["ok"])
    # Weights 1024 and 110 at nice 10: about a tenth; in a group of its own, about a half.
    assert spent < 0.35 * served, f"the worker spent {spent:.2f}s to the server's {served:.2f}s"


def test_it_cannot_leave_the_servers_scheduling_group_nor_reweigh_it(confined: Confinement):
    """No session of its own (``setsid``: a group the scheduler weighs apart), no write to
    the group's weight (``/proc/self/autogroup``, the server's group too), no I/O
    priority of its choosing, and no terminal: the server's, when it has one, is not the
    worker's ``/dev/tty``."""
    outcome = run(
        confined,
        "import os; os.setsid()",
        "open('/proc/self/autogroup', 'w').write('19')",
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
        "result = (libc.syscall(251, 1, 0, (2 << 13) | 0), ctypes.get_errno())",  # ioprio_set
        "import os\ntry: result = os.isatty(os.open('/dev/tty', os.O_RDWR))\n"
        "except OSError: result = False",
        "import os; result = os.getpgid(0) == os.getpid()",
    )
    assert outcome.answers[0]["error"].startswith(REFUSED)
    assert outcome.answers[1]["error"].startswith("OSError: [Errno 30] Read-only file system")
    assert outcome.answers[2] == {"ok": "(-1, 1)"}
    assert outcome.answers[3] == {"ok": "False"}
    assert outcome.answers[4] == {"ok": "True"}  # signals to its group reach it alone


def test_open_files_are_limited(tree: dict[str, Path]) -> None:
    confinement = Confinement(plugin_dir=tree["mine"], limits=Limits(open_files=32))
    code = "files = [open('__init__.py') for _ in range(64)]"
    assert one(confinement, code)["error"].startswith("OSError: [Errno 24] Too many open files")


def test_the_inherited_channel_carries_large_messages_both_ways(confined: Confinement) -> None:
    worker = start(confined)
    try:
        for size in (1, 70_000, 3_000_000):
            assert worker.ask(f"result = len('x' * {size})") == {"ok": str(size)}
        answer = worker.ask("result = 'y' * 2_000_000")
        assert answer == {"ok": repr("y" * 2_000_000)}
    finally:
        assert worker.close() == 0


def test_killing_the_spawned_process_ends_the_worker(confined: Confinement) -> None:
    """The pool kills a stuck worker through the pid it spawned, which is bubblewrap's."""
    worker = start(confined)
    answer = worker.ask("import os; result = os.getpid()")
    assert answer == {"ok": "2"}  # the worker is PID 2 in its own namespace
    spin = "import threading; threading.Thread(target=lambda: [0 for _ in iter(int, 1)]).start()"
    assert worker.ask(spin) == {"ok": "None"}
    worker.process.kill()
    assert worker.process.wait(timeout=30) == -signal.SIGKILL
    worker.channel.settimeout(30)
    assert worker.channel.recv(1) == b""  # every process holding the channel's other end is gone
    worker.channel.close()


def test_without_bubblewrap_sandbox_mode_refuses(tmp_path: Path) -> None:
    """No silent fallback: a machine that cannot confine says why."""
    code = "from tessera.sandbox.confinement import mechanism; mechanism()"
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "SandboxUnavailable: sandbox mode cannot confine plugins here" in done.stderr
    assert "apt-get install bubblewrap" in done.stderr
