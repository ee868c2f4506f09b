"""Shared fixtures: a real Tessera server on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from tessera.settings import Settings

if TYPE_CHECKING:
    from tessera.runtime import Runtime
    from tessera.services.wiring import Services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "plugins"
CORPUS = Path(__file__).resolve().parent / "plugins_corpus"


@dataclass
class LiveServer:
    """A running server: its base URL, runtime and a way to mint tokens for it."""

    url: str
    runtime: Runtime
    settings: Settings

    def token(self, user_id: str, **claims: Any) -> str:
        from tessera.runtime import local_tokens

        return local_tokens(self.settings).issue(user_id, **claims)

    def client(self, user_id: str | None = None, **claims: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(user_id, **claims)}"} if user_id else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


@dataclass
class _Running:
    server: uvicorn.Server
    thread: threading.Thread


def start_server(settings: Settings, *, sandboxed: bool = False) -> tuple[LiveServer, _Running]:
    """Start uvicorn with Tessera in a thread on port 0; return once it listens.

    ``sandboxed``: every plugin runs in sandbox workers, whatever the isolation setting.
    """
    # Imported here so the store and auth packages' own tests never depend on the runtime.
    from tessera.http.app import create_app
    from tessera.runtime import Runtime

    runtime = Runtime(settings)
    runtime.sandbox.everything = runtime.sandbox.everything or sandboxed
    config = uvicorn.Config(
        create_app(runtime),
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="on",
        server_header=False,  # as `tessera serve`
        proxy_headers=False,  # as `tessera serve`: the routes resolve X-Forwarded-For
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(3000):  # sandboxed plugins start a worker each
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError("test server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", runtime, settings), _Running(server, thread)


def stop_server(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture
def plugin_mode() -> str:
    """Where ``serve`` runs plugin code: "in-process" here; the plugins, services and
    isolation suites override this fixture to run each of their tests in both modes."""
    return "in-process"


@pytest.fixture
def serve(tmp_path: Path, plugin_mode: str) -> Iterator[Callable[..., LiveServer]]:
    """``serve(plugins_dir, **settings)`` starts a live server; all stop after the test.

    With ``plugin_mode`` "sandbox", plugins run in sandbox workers: ``--isolation sandbox``
    unless the test chose another isolation mode, which then applies to the workers.
    """
    running: list[_Running] = []
    sandboxed = plugin_mode == "sandbox"

    def _serve(plugins: Path = EXAMPLES, **values: Any) -> LiveServer:
        data = values.pop("data", tmp_path / "data")
        if sandboxed:
            values.setdefault("isolation", "sandbox")
        settings = Settings.load({"plugins": plugins, "data": data, **values}, environ={})
        live, handle = start_server(settings, sandboxed=sandboxed)
        running.append(handle)
        return live

    yield _serve
    for handle in running:
        stop_server(handle)


@pytest.fixture
def services() -> Iterator[Services]:
    """A runtime's services, bound as a running runtime binds them, with no runtime: what
    plugins loaded by a bare PluginRegistry reach through ``core.*`` at import."""
    from tessera.services import running
    from tessera.services.wiring import Services

    made = Services.made()
    running.bind(made)
    yield made
    running.unbind(made)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the test plugins, safe to edit."""
    target = tmp_path / "plugins"
    shutil.copytree(CORPUS, target)
    return target
