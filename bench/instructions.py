"""Instructions per request on the execute path, counted by valgrind: steady where
wall-clock throughput is not.

Run ``.venv/bin/python bench/instructions.py`` (needs ``valgrind``: ``apt-get install
valgrind``; about three minutes). It feeds raw HTTP requests to uvicorn's httptools
protocol in-process, 64 connections interleaved, over a stand-in transport, so no socket
or scheduler noise is counted: once for the bare ASGI app and once for Tessera with a
no-op plugin (isolation enforced, the token verified once and then cached), then for that
no-op in OIDC mode (an RS256 token, the JWKS served in-process by ``bench/jwks.py``), all
with the options ``tessera serve`` gives uvicorn. Each is run for N and 3N requests under
``valgrind --tool=callgrind``, and the difference divided by 2N is the cost of one
request, start-up left out. Repeat runs agree within about 1 %.

The stand-in transport drives uvicorn's protocol class directly, which is not a public
API: a uvicorn upgrade may need this file changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/http.py would
# hide the standard library's `http` package from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import gc
import re
import shutil
import subprocess
import tempfile
from typing import Any

from bench.jwks import LocalProvider, new_key_pem

CONNECTIONS = 64
# The OIDC runs sign with one key, made once: generating one costs a varying count.
KEY_FILE = Path(tempfile.gettempdir()) / "tessera-instructions-rsa.pem"
NOOP = "async def execute(data: dict) -> dict:\n    return {'ok': True}\n"
BODY = b'{"action": "list"}'


class Transport:
    """Enough of an asyncio transport for uvicorn's protocol; counts the answers."""

    def __init__(self, answered: Any) -> None:
        self.answered = answered
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 "):
            if not data.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"unexpected answer: {data[:200]!r}")
            self.answered()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def tessera_app(data: Path, oidc: LocalProvider | None = None) -> tuple[Any, str]:
    """Tessera serving a no-op plugin, in local mode or, given a provider, in OIDC mode;
    and a token it accepts."""
    from tessera.context import configure_logging
    from tessera.http.app import create_app
    from tessera.runtime import Runtime, local_tokens
    from tessera.settings import Settings

    (data / "plugins" / "noop").mkdir(parents=True)
    (data / "plugins" / "noop" / "logic.py").write_text(NOOP)
    options: dict[str, Any] = {"data": data, "plugins": data / "plugins", "log_level": "warning"}
    settings = Settings.load({**options, **(oidc.settings() if oidc else {})}, environ={})
    configure_logging("warning")
    runtime = Runtime(settings)
    app = create_app(runtime)
    await runtime.start()
    if oidc is not None:
        return app, oidc.token("user00001", ttl_seconds=3600)
    return app, local_tokens(settings).issue("user00001", ttl_seconds=3600)


async def drive(app_name: str, requests: int) -> None:
    """Answer ``requests`` requests after a warm-up (the part callgrind is asked to count
    twice over, for two values of ``requests``)."""
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    if app_name == "bare":
        from bench.apps.bare import app

        token, path = "unused", "/"
    else:
        provider = LocalProvider(KEY_FILE.read_bytes()) if app_name == "oidc" else None
        data = Path(tempfile.mkdtemp(prefix="tessera-instr-"))
        app, token = await tessera_app(data, provider)
        path = "/api/execute/noop"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    config = Config(
        app,
        http="httptools",
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,
        lifespan="off",
    )
    config.load()
    loop = asyncio.get_running_loop()
    state = ServerState()
    left = 0
    done: asyncio.Future[None] = loop.create_future()

    def answered() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set_result(None)

    protocols = []
    for _ in range(CONNECTIONS):
        protocol = HttpToolsProtocol(config, state, app_state={}, _loop=loop)
        protocol.connection_made(Transport(answered))  # type: ignore[arg-type]
        protocols.append(protocol)

    async def run(count: int) -> None:
        nonlocal left, done
        left, done = count, loop.create_future()
        for _ in range(count // CONNECTIONS):
            for protocol in protocols:
                protocol.data_received(request)
            await asyncio.sleep(0)
        await done

    await run(CONNECTIONS * 20)  # warm-up: caches, the token, the plugin's first call
    gc.collect()
    await run(requests)


def count(app_name: str, requests: int) -> int:
    """Instructions of one whole run of ``drive`` under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={folder}/out",
                sys.executable,
                __file__,
                "--drive",
                app_name,
                "--requests",
                str(requests),
            ],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise SystemExit(f"the {app_name} run failed:\n{result.stderr[-2000:]}")
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def per_request(app_name: str, requests: int) -> float:
    return (count(app_name, 3 * requests) - count(app_name, requests)) / (2 * requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1280, help="a multiple of 64")
    parser.add_argument("--drive", choices=["bare", "tessera", "oidc"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        import uvloop

        uvloop.run(drive(args.drive, args.requests))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    if not KEY_FILE.exists():
        KEY_FILE.write_bytes(new_key_pem())
    bare = per_request("bare", args.requests)
    print(f"bare ASGI app          {bare:>9,.0f} instructions a request")
    tessera = per_request("tessera", args.requests)
    print(f"tessera, no-op plugin  {tessera:>9,.0f} instructions a request")
    print(f"bare / tessera         {bare / tessera:>9.2f}   (bench/http.py gives the req/s ratio)")
    oidc = per_request("oidc", args.requests)
    print(f"tessera, OIDC (RS256)  {oidc:>9,.0f} instructions a request")
    print(f"local / OIDC           {tessera / oidc:>9.2f}   (target >= 0.9 in req/s)")


if __name__ == "__main__":
    main()
