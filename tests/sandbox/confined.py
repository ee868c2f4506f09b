"""Run a snippet of hostile code in a real confined worker and get back what happened.

The worker is a Python process started through ``wrap_command`` with one end of a socket
pair as its channel; it calls ``confine_self`` first, then runs the code it is sent and
answers ``{"ok": repr(result)}`` or ``{"error": "Type: message"}`` on the channel.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tessera.sandbox.confinement import Confinement, wrap_command

WORKER = r"""
import json, socket, sys
from tessera.sandbox.confinement import Confinement, confine_self

confine_self(Confinement.decode(sys.argv[2]))
fd = int(sys.argv[1])
chan = socket.socket(fileno=fd)
with chan.makefile("rb") as lines:
    for line in lines:
        try:
            scope = {}
            exec(json.loads(line), scope)
            answer = {"ok": repr(scope.get("result"))}
        except BaseException as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        chan.sendall(json.dumps(answer).encode() + b"\n")
"""

# What the server would have in its environment: none of it may reach the worker.
SERVER_ENV = {"TESSERA_TOKEN_SECRET": "s3cret-from-env", "AWS_SECRET_ACCESS_KEY": "aws-s3cret"}


@dataclass
class Outcome:
    answers: list[dict[str, str]]
    returncode: int


@dataclass
class Worker:
    """A confined worker process and its end of the channel."""

    process: subprocess.Popen[bytes]
    channel: socket.socket

    def ask(self, code: str) -> dict[str, str]:
        """Run ``code`` in the worker; its answer, or {} if the worker died."""
        self.channel.sendall(json.dumps(code).encode() + b"\n")
        line = b""
        while not line.endswith(b"\n"):
            chunk = self.channel.recv(65536)
            if not chunk:
                return {}
            line += chunk
        return dict(json.loads(line))

    def close(self) -> int:
        self.channel.close()
        return self.process.wait(timeout=30)


def start(confinement: Confinement) -> Worker:
    ours, theirs = socket.socketpair()
    argv = [sys.executable, "-c", WORKER, str(theirs.fileno()), confinement.encode()]
    process = subprocess.Popen(
        wrap_command(argv, confinement),
        pass_fds=[theirs.fileno()],
        env={**os.environ, **SERVER_ENV},
    )
    theirs.close()
    return Worker(process, ours)


def run(confinement: Confinement, *snippets: str) -> Outcome:
    """Each snippet's answer in one worker, and how the worker ended."""
    worker = start(confinement)
    answers = [worker.ask(code) for code in snippets]
    return Outcome(answers, worker.close())


def one(confinement: Confinement, code: str) -> dict[str, str]:
    return run(confinement, code).answers[0]


def plugin_tree(root: Path) -> dict[str, Path]:
    """A data folder with a token secret and a store, and two plugins' folders."""
    data, mine, other = root / "data", root / "plugins" / "mine", root / "plugins" / "other"
    for folder in (data, mine, other):
        folder.mkdir(parents=True)
    (data / "token_secret").write_text("s3cret-on-disk")
    (data / "tessera.db").write_bytes(b"SQLite format 3\x00")
    (mine / "__init__.py").write_text("def execute(data):\n    return {}\n")
    (other / "logic.py").write_text("API_KEY = 'other-plugin-key'\n")
    return {"data": data, "mine": mine, "other": other}
