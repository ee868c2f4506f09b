"""The worker's seccomp filter: the system calls plugin code may not make.

Built with libseccomp, the library systemd, Docker and Flatpak build their filters with:
it knows each architecture's syscall numbers, and kills a process that calls through
another ABI (32-bit ``int 0x80``, x32), so the filter cannot be stepped around. We call the
system's ``libseccomp.so.2`` through ctypes: the six functions used here are its stable C
API, and a Python binding would cost a worker tens of milliseconds more at each start
(``pyseccomp`` spawns ``ldconfig`` twice to find the library). The filter is a deny list
over an allow default: Python and its C extensions make hundreds of different calls, and
the dangerous ones are few and known.
"""

from __future__ import annotations

import ctypes
import errno
import os

# Processes and programs: fork, exec, and other ways to run code outside this process.
NO_PROCESSES = ("fork", "vfork", "execve", "execveat")
# Reaching into other processes, the kernel, or out of the namespaces bubblewrap made.
NO_ESCAPES = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_open",
    "pidfd_getfd",
    "kcmp",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    # The mount API of Linux 5.2+, which does what mount does through file descriptors.
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    # Other processes' memory placement (move_pages, migrate_pages, process_madvise).
    "move_pages",
    "migrate_pages",
    "process_madvise",
    # io_uring performs reads, writes and connects without the syscalls filtered here.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
# The machine's own state: clocks, swap, accounting, the kernel log, I/O ports, quotas. The
# worker has no capability for most of them; refused here too, as no plugin needs them.
NO_MACHINE = (
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "swapon",
    "swapoff",
    "acct",
    "reboot",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "iopl",
    "ioperm",
    "sethostname",
    "setdomainname",
    "vhangup",
    "fanotify_init",
    "lookup_dcookie",
    "uselib",
)
# Scheduling: the worker runs below the server (confinement._yield_to_server) and stays so:
# no other policy, no I/O priority of its choosing (best-effort 0 is open to any process),
# and no session of its own, which would be a scheduling group (autogroup) of its own,
# weighed as much as the server's whatever the worker's nice value.
NO_SCHEDULING = ("sched_setscheduler", "sched_setattr", "sched_setparam", "ioprio_set", "setsid")
CLONE_THREAD = 0x00010000
# With the network, the host's network namespace is shared, and with it the abstract Unix
# sockets of the host's processes (D-Bus, X11, containerd's shim): the worker's are refused.
AF_UNIX = 1
# Nor has any namespace a virtual machine's channel to its hypervisor's services.
AF_VSOCK = 40
# ioctl requests that act on a terminal beyond the worker: typing into its input (TIOCSTI)
# and the console's (TIOCLINUX). The worker has no terminal; refused should it get one.
NO_IOCTLS = (0x5412, 0x541C)


ALLOW = 0x7FFF0000
MASKED_EQ = 7  # SCMP_CMP_MASKED_EQ: (argument & a) == b
TSYNC = 4  # SCMP_FLTATR_CTL_TSYNC: the filter applies to every thread, not only the caller
LIBRARY = "libseccomp.so.2"


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def refuse(error: int) -> int:
    """SCMP_ACT_ERRNO: the call fails with ``error`` and does nothing."""
    return 0x00050000 | (error & 0xFFFF)


def install(network: bool) -> None:
    """Load the filter into every thread of this process; it can never be removed.

    Threads stay allowed (``clone`` with ``CLONE_THREAD``); ``clone3``, whose flags a filter
    cannot read, answers ENOSYS so the C library falls back to ``clone``. Without network,
    ``socket`` is refused; with it, Unix and VSOCK sockets are. ``socketpair`` stays (an
    asyncio loop a plugin makes wakes itself with one): a connected pair reaches nothing
    outside the process.
    """
    lib = ctypes.CDLL(LIBRARY)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    rules = lib.seccomp_init(ctypes.c_uint32(ALLOW))
    if not rules:
        raise OSError("seccomp_init failed")
    try:
        _check(lib.seccomp_attr_set(ctypes.c_void_p(rules), TSYNC, ctypes.c_uint32(1)), "tsync")
        refused = refuse(errno.EPERM)
        for name in (
            *NO_PROCESSES,
            *NO_ESCAPES,
            *NO_MACHINE,
            *NO_SCHEDULING,
            *(() if network else ("socket",)),
        ):
            _add(lib, rules, refused, name)
        if network:  # the host's network, not its processes' sockets nor the hypervisor's
            for family in (AF_UNIX, AF_VSOCK):
                _add(lib, rules, refused, "socket", _ArgCmp(0, MASKED_EQ, 0xFFFFFFFF, family))
        _add(lib, rules, refused, "clone", _ArgCmp(0, MASKED_EQ, CLONE_THREAD, 0))
        for request in NO_IOCTLS:  # the request is an int: its upper 32 bits are noise
            _add(lib, rules, refused, "ioctl", _ArgCmp(1, MASKED_EQ, 0xFFFFFFFF, request))
        _add(lib, rules, refuse(errno.ENOSYS), "clone3")
        _check(lib.seccomp_load(ctypes.c_void_p(rules)), "load")
    finally:
        lib.seccomp_release(ctypes.c_void_p(rules))


def _add(lib: ctypes.CDLL, rules: int, action: int, name: str, *args: _ArgCmp) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number == -1:  # __NR_SCMP_ERROR: no such call on any architecture libseccomp knows
        return
    compare = (_ArgCmp * len(args))(*args)
    status = lib.seccomp_rule_add_array(
        ctypes.c_void_p(rules), ctypes.c_uint32(action), number, len(args), compare
    )
    _check(status, f"rule for {name}")


def _check(status: int, what: str) -> None:
    if status < 0:
        raise OSError(-status, f"seccomp {what}: {os.strerror(-status)}")


def available() -> str | None:
    """Why a filter cannot be built here, or None when it can."""
    try:
        ctypes.CDLL(LIBRARY)
    except OSError as exc:
        return f"libseccomp is not usable ({exc}); install the libseccomp2 package"
    with open("/proc/self/status") as status:
        if not any(line.startswith("Seccomp:") for line in status):
            return "this kernel was built without seccomp (CONFIG_SECCOMP_FILTER)"
    return None
