"""A hostile plugin: each action tries to step out of its worker; it answers what happened."""

import ctypes
import os
import socket
import subprocess


def read(data):
    with open(data["path"], "rb") as file:
        return file.read()[:40]


def write(data):
    with open(data["path"], "w") as file:
        return file.write("pwned")


def ctypes_fork(data):
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.fork(), ctypes.get_errno()


ATTEMPTS = {
    "read": read,
    "write": write,
    "fork": lambda data: os.fork(),
    "subprocess": lambda data: subprocess.run(["/usr/bin/true"]).returncode,
    "exec": lambda data: os.execv("/usr/bin/true", ["true"]),
    "ctypes_fork": ctypes_fork,
    "connect": lambda data: socket.create_connection(("127.0.0.1", data["port"]), 2).close(),
    "environ": lambda data: sorted(os.environ),
    "allocate": lambda data: len(bytearray(2 * 1024**3)),
}


def execute(data: dict) -> dict:
    if data["action"] == "spin":
        while True:
            pass
    try:
        return {"outcome": f"done: {ATTEMPTS[data['action']](data)!r}"}
    except BaseException as exc:
        return {"outcome": f"{type(exc).__name__}: {exc}"}
