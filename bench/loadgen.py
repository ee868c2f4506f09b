"""What the HTTP benchmarks share: free ports, waiting for a server, the wrk script."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

# wrk posts `body` with a bearer token picked at random from the file `tokens` names.
_WRK_SCRIPT = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
wrk.method = "POST"
wrk.body = '%(body)s'
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. token,
                               ["Content-Type"] = "application/json"})
end
"""


def wrk_script(tokens: str, body: str) -> str:
    """A wrk Lua script posting ``body`` with tokens from the file ``tokens``."""
    return _WRK_SCRIPT % {"tokens": tokens, "body": body}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Return once ``url`` answers; raise if the server exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: server did not start")
