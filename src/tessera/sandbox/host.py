"""The runtime's side of sandbox mode: which plugins run in workers, their pools, and the
events forwarded to them.

In ``--isolation sandbox`` every plugin runs in workers; otherwise those whose manifest
says ``"sandbox": true``. A sandboxed plugin's code is never imported by the server. At
load the server checks what it can without running the code (:mod:`.lazy`: syntax, the
modules it imports), and the registry gets an entry point that hands each call to the
plugin's pool, whose first worker imports the plugin at the first call. A plugin that
subscribes to events is imported at load instead, by a worker started at once, so its
handlers are known before anything is published; the server is ready once those imports
are done. Loading a folder of plugins so starts few workers: a worker start costs about
100 ms of CPU, and at one per plugin a folder of 200 plugins took most of a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tessera.context import callerless_plugin, current_event
from tessera.isolation.errors import IsolationError
from tessera.isolation.policy import unlisted
from tessera.plugins.errors import PluginLoadError
from tessera.plugins.loader import PluginCode, package_name
from tessera.plugins.manifest import Manifest
from tessera.sandbox import faults, launch, lazy
from tessera.sandbox.confinement import Confinement, Limits, SandboxUnavailable
from tessera.sandbox.frames import Unsendable
from tessera.sandbox.operations import CallState, worker_text
from tessera.sandbox.pool import Pool, PoolSettings
from tessera.sandbox.process import AtCapacity, ImportFailed, WorkerProcess
from tessera.services import running
from tessera.services.event_bus import RUNTIME_EVENTS, Subscription

logger = logging.getLogger("tessera.sandbox")

REAP_EVERY = 5.0
#: Workers starting at once (a start is mostly CPU: more at once only share the cores).
STARTING_AT_ONCE = 4
#: Workers kept after importing a plugin at load, for the first calls; past this many,
#: the worker that imported a plugin at load ends, and its first call starts one.
WARM_AFTER_LOAD = 4
# Characters of an error's message, and of a traceback, a worker's call ends with that the
# server logs: a worker otherwise wrote 15 MB to the log a call.
MAX_MESSAGE = 10_000
MAX_TRACEBACK = 64 * 1024


class PluginRaised(Exception):
    """The plugin raised in its worker; the message is the worker's traceback."""


class Forwarder:
    """The server-side handler of a sandboxed plugin's subscription: runs the event's
    handlers in one of the plugin's workers, as the caller who published it.

    The runtime's own events (``plugin_executed``, ``settings_updated``...) name users of
    every app and reach no caller's scope: an unlisted plugin could keep them and tell
    any caller, so they reach only plugins the operator lists in --sandbox-escalation."""

    def __init__(self, sandbox: Sandbox, plugin: str, event: str, every: bool) -> None:
        self.sandbox, self.plugin, self.event, self.every = sandbox, plugin, event, every
        self.__qualname__ = self.__name__ = f"sandboxed handlers of {event!r}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Forwarder) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, str, bool]:
        return (self.plugin, self.event, self.every)

    async def __call__(self, payload: Any) -> None:
        if current_event.get() in RUNTIME_EVENTS and self.plugin not in self.sandbox.escalating:
            return
        message = {"kind": "event", "pattern": self.event, "every": self.every}
        await self.sandbox.run(self.plugin, {**message, "payload": payload})


class Sandbox:
    """The pools of the sandboxed plugins of one runtime."""

    def __init__(
        self,
        everything: bool,
        settings: PoolSettings | None = None,
        hidden: tuple[Path, ...] = (),
        escalating: tuple[str, ...] = (),
        networked: tuple[str, ...] = (),
    ) -> None:
        #: Whether every plugin is sandboxed (``--isolation sandbox``).
        self.everything = everything
        #: The sandboxed plugins the operator lets escalate (``--sandbox-escalation``).
        self.escalating = frozenset(escalating)
        #: The sandboxed plugins the operator lets use the network (``--sandbox-network``).
        self.networked = frozenset(networked)
        self.settings = settings or PoolSettings()
        #: Paths no worker may see even inside a folder it can read (the data folder).
        self.hidden = hidden
        self.pools: dict[str, Pool] = {}
        #: Told ``(plugin, error)`` when a plugin's code fails to import in a worker after
        #: its load said it could (the registry then reports it failed).
        self.import_failed: Callable[[str, str], None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._starting = asyncio.Semaphore(STARTING_AT_ONCE)
        self._launching = 0  # workers started and not yet ready
        self._importing: list[asyncio.Task[bool]] = []
        self._closed: list[Pool] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        #: What each plugin's code subscribed to at its last import.
        self._subscriptions: dict[str, list[tuple[str, bool]]] = {}

    def wants(self, manifest: Manifest) -> bool:
        """Whether the plugin of ``manifest`` runs in workers."""
        return self.everything or manifest.sandbox

    def may_escalate(self, name: str, manifest: Manifest) -> bool:
        """Whether plugin ``name`` may escalate at all. A sandboxed plugin's manifest is
        its author's, so its ``escalation_roles`` count only when the operator lists it."""
        return name in self.escalating or not self.wants(manifest)

    def confinement(self, name: str, folder: Path, manifest: Manifest) -> Confinement:
        """What a worker of plugin ``name`` in ``folder`` may reach: its folder, and the
        network only when its manifest says ``"network": true`` and the operator lists it
        (the host's network includes Redis and other services on localhost)."""
        limits = Limits(memory_bytes=self.settings.memory_bytes)
        network = manifest.extra.get("network") is True and name in self.networked
        return Confinement(folder, network=network, limits=limits, hidden=self.hidden)

    def load(self, name: str, folder: Path, manifest: Manifest) -> PluginCode:
        """Check plugin ``name`` and return the entry point that runs it in workers;
        plugins that subscribe to events start importing in a worker now (:meth:`settle`
        waits for them). Raises PluginLoadError when the check finds a problem, or when
        this machine cannot confine workers (saying what is missing)."""
        self.unload(name)
        try:
            launch.mechanism()
        except SandboxUnavailable as exc:
            raise PluginLoadError(f"plugin {name!r} asks for the sandbox: {exc}") from None
        problem = lazy.problem(name, folder)
        if problem is not None:
            raise PluginLoadError(problem)
        if manifest.needs_user_jwt and name not in self.escalating:
            # A token is its caller's whole authority (a superadmin's included), and a worker
            # can keep one caller's and hand it to the next: escalation by other means.
            raise PluginLoadError(unlisted(name, "receiving its callers' tokens (needs_user_jwt)"))
        if manifest.extra.get("escalation_roles") and name not in self.escalating:
            logger.warning("%s: refused", unlisted(name, "escalation (escalation_roles)"))
        if manifest.extra.get("network") is True and name not in self.networked:
            logger.warning(
                "plugin %r runs in the sandbox and asks for the network: it has none until "
                "the operator lists it in --sandbox-network",
                name,
            )
        pool = Pool(name, self.confinement(name, folder, manifest), self.settings, self._start)
        self.pools[name] = pool
        if lazy.subscribes(folder):
            # Reloaded: what it subscribed to goes on being forwarded (each event waiting
            # for the import) until the new code's own subscriptions are known.
            for event, every in self._subscriptions.get(name, []):
                self.subscribe(name, event, every, True)
            self._on_loop(lambda: self._importing.append(pool.prime()))

        async def execute(data: dict[str, Any]) -> dict[str, Any]:
            try:
                return await self.run(name, {"kind": "call", "data": data}, pool)
            except Unsendable as exc:  # the client's data: its error, as a plugin's
                return _unsendable(exc)

        package = package_name(name)
        placeholder = types.ModuleType(package, f"plugin {name!r}: runs in sandbox workers")
        return PluginCode(package, placeholder, execute, is_async=True)

    async def _start(self, pool: Pool) -> WorkerProcess:
        """A worker of ``pool``, started (a few at once across the sandbox), its plugin's
        subscriptions forwarded; an import that fails marks the plugin failed."""
        async with self._starting:
            self._make_room()
            worker = WorkerProcess.launch(pool.name, pool.confined, pool.output)
            self._launching += 1
            try:
                await worker.ready(self.settings.import_timeout)
            except ImportFailed as exc:
                if self.pools.get(pool.name) is pool and self.import_failed is not None:
                    self.import_failed(pool.name, str(exc))
                raise
            finally:
                self._launching -= 1
        if self.pools.get(pool.name) is pool and pool.starts == 0:  # its code's first import
            before = self._subscriptions.get(pool.name, [])
            self._subscriptions[pool.name] = worker.subscriptions
            for event, every in before:
                if (event, every) not in worker.subscriptions:
                    self.subscribe(pool.name, event, every, False)
        for event, every in worker.subscriptions:
            self.subscribe(pool.name, event, every, True)
        return worker

    def _make_room(self) -> None:
        """Keep the workers of every plugin within ``total_workers``: end the idle one
        unused longest, whatever its plugin; AtCapacity when every one is busy. Without a
        total, a client calling many sandboxed plugins at once held 4 workers of each."""
        pools = list(self.pools.values())
        total = self.settings.total_workers
        while sum(len(p.idle) + len(p.busy) for p in pools) + self._launching >= total:
            idle = [(worker.last_used, pool, worker) for pool in pools for worker in pool.idle]
            if not idle:
                raise AtCapacity(f"{total} workers at most")
            _, pool, worker = min(idle, key=lambda entry: entry[0])
            pool.idle.remove(worker)
            worker.kill()

    def _on_loop(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the runtime's event loop: now when called on it, soon when called
        from another thread (a reload from a test or a tool); never before the start."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            work()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(work)

    async def settle(self) -> None:
        """Wait for the imports started at load; then keep only WARM_AFTER_LOAD of their
        workers."""
        importing, self._importing = self._importing, []
        await asyncio.gather(*importing, return_exceptions=True)
        kept = 0
        for pool in self.pools.values():
            kept += len(pool.idle)
            if kept > WARM_AFTER_LOAD:
                kept -= pool.reap(math.inf)

    async def run(
        self, plugin: str, message: dict[str, Any], pool: Pool | None = None
    ) -> dict[str, Any]:
        """Run a call or event in ``plugin``'s workers; its result, or its error raised."""
        pool = pool or self.pools.get(plugin)
        if pool is None:
            raise RuntimeError(f"plugin {plugin!r} is not loaded in the sandbox")
        done = await pool.run(message, CallState(plugin, self.subscribe, output=pool.output.passes))
        if "result" in done:
            result = done["result"]
            return result if isinstance(result, dict) else {}
        if "not_dict" in done:
            raise PluginRaised(f"returned {worker_text(done['not_dict'], 100)} instead of a dict")
        raise _raised(done.get("raised"))

    def subscribe(self, plugin: str, event: str, every: bool, add: bool) -> None:
        """Forward ``event`` to ``plugin``'s workers (or stop forwarding it)."""
        forwarder = Forwarder(self, plugin, event, every)
        bus = running.current().bus
        if not add:
            bus.unsubscribe(event, forwarder, owner=plugin)
            return
        subscription = Subscription(event, forwarder, plugin)
        if plugin not in self.escalating and any(map(subscription.matches, RUNTIME_EVENTS)):
            hearing = f"hearing the runtime's own events ({event})"
            logger.warning("%s: it hears only those plugins publish", unlisted(plugin, hearing))
        token = callerless_plugin.set(plugin)  # the subscription belongs to the plugin
        try:
            bus.subscribe(event, forwarder, every_process=every)
        finally:
            callerless_plugin.reset(token)

    def unload(self, name: str) -> None:
        """End the workers of plugin ``name`` (reloaded or removed)."""
        pool = self.pools.pop(name, None)
        if pool is not None:
            pool.close()
            # A worker it is starting or lingering on ends after that, or at stop.
            self._closed = [p for p in (*self._closed, pool) if p.has_tasks]

    async def start(self) -> None:
        """Start ending idle workers; with every plugin sandboxed, first check that this
        machine can confine them (SandboxUnavailable: the server does not start)."""
        if self.everything:
            launch.mechanism()
        self._loop = asyncio.get_running_loop()
        self._reaper = asyncio.create_task(self._reap())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        self._importing = []
        pools, self.pools, self._closed = [*self.pools.values(), *self._closed], {}, []
        for pool in pools:
            await pool.stop()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY)
            now = time.monotonic()
            for pool in list(self.pools.values()):
                pool.reap(now)

    def status(self, *, details: bool) -> dict[str, Any]:
        """What ``/health`` shows of the sandbox: which plugins' workers back off after
        repeated crashes, and with ``details`` (superadmins) each pool's figures."""
        pools = sorted(self.pools.items())
        body: dict[str, Any] = {
            "confinement": launch.mechanism(),
            "backing_off": [name for name, pool in pools if pool.backing_off],
        }
        if details:
            body["pools"] = {name: pool.status() for name, pool in pools}
        return body

    def collect(self) -> Iterator[Metric]:
        """The pools' figures for ``/metrics`` (a Prometheus collector)."""
        workers = GaugeMetricFamily(
            "tessera_sandbox_workers", "Sandbox worker processes, by plugin.", labels=["plugin"]
        )
        starts = CounterMetricFamily(
            "tessera_sandbox_worker_starts",
            "Sandbox workers started, by plugin.",
            labels=["plugin"],
        )
        deaths = CounterMetricFamily(
            "tessera_sandbox_worker_deaths",
            "Sandbox workers that died or were killed (timeouts, crashes, memory), by plugin.",
            labels=["plugin"],
        )
        backoff = GaugeMetricFamily(
            "tessera_sandbox_backing_off",
            "1 while a plugin's workers back off after repeated crashes.",
            labels=["plugin"],
        )
        for name, pool in sorted(self.pools.items()):
            workers.add_metric([name], len(pool.idle) + len(pool.busy))
            starts.add_metric([name], pool.starts)
            deaths.add_metric([name], pool.deaths)
            backoff.add_metric([name], 1 if pool.backing_off else 0)
        yield from (workers, starts, deaths, backoff)


def _unsendable(exc: Unsendable) -> dict[str, Any]:
    """The error answering a call whose data cannot reach a worker (400, or 413 when too
    large): JSON a client may send that BSON cannot hold."""
    error = f"The request's data cannot be sent to this sandboxed plugin: {exc}"
    if exc.too_large:
        return {"error": error, "error_code": "payload_too_large", "http_status": 413}
    return {"error": error, "error_code": "bad_request"}


def _raised(described: Any) -> Exception:
    """The server-side exception for what the plugin raised in its worker: isolation
    refusals and cluster outages keep their meaning, anything else is a crash."""
    if not isinstance(described, dict):
        return PluginRaised("the worker described what was raised as no error")
    # What the worker wrote goes to the log and to the caller: bounded, and escaped.
    message = worker_text(described.get("message", ""), MAX_MESSAGE)
    name = described.get("type")
    if name == "IsolationError":
        exc = faults.rebuild({"type": name, "message": message, "code": described.get("code")})
        assert isinstance(exc, IsolationError)
        return exc
    if name == "ClusterUnavailable":
        from tessera.cluster.errors import ClusterUnavailable

        return ClusterUnavailable(message)
    text = worker_text(described.get("traceback") or message, MAX_TRACEBACK, tail=True)
    return PluginRaised(text.rstrip())
