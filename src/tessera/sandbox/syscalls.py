"""The worker's seccomp filter: the system calls plugin code may not make.

Built with libseccomp (through ``pyseccomp``, a ctypes binding with the API of libseccomp's
own Python module), which knows each architecture's syscall numbers and kills a process
that calls through another ABI (32-bit ``int 0x80``, x32) so the filter cannot be bypassed.
A filter is a deny list over an allow default: Python and the C extensions it loads make
hundreds of different calls, and the dangerous ones are few and known.
"""

from __future__ import annotations

import errno

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
    # io_uring performs reads, writes and connects without the syscalls filtered here.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
CLONE_THREAD = 0x00010000


def install(network: bool) -> None:
    """Load the filter into every thread of this process; it can never be removed.

    Threads stay allowed (``clone`` with ``CLONE_THREAD``); ``clone3``, whose flags a filter
    cannot read, answers ENOSYS so the C library falls back to ``clone``. Without network,
    ``socket`` is refused; ``socketpair`` stays (asyncio's loop wakes itself with one) since
    a connected pair reaches nothing outside the process.
    """
    import pyseccomp as seccomp

    refused = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.CTL_TSYNC, 1)
    for name in (*NO_PROCESSES, *NO_ESCAPES):
        rules.add_rule(refused, name)
    rules.add_rule(refused, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    if not network:
        rules.add_rule(refused, "socket")
    rules.load()


def available() -> str | None:
    """Why a filter cannot be built here, or None when it can."""
    try:
        import pyseccomp as seccomp

        seccomp.SyscallFilter(seccomp.ALLOW)
    except Exception as exc:  # no binding, or no libseccomp.so.2 for it to load
        return f"libseccomp is not usable ({exc}); install the libseccomp2 package"
    return None
