"""Plugin enable, disable and reload, carried to every process of a cluster.

The process an operator asks saves the decision in the store (``plugins/state.py``) and
announces it on a Redis channel; the others apply it as it arrives. A process reads the
saved decisions again each time it (re)subscribes, so a switch made while it was cut off
from Redis is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson

from tessera.cluster.link import UNREACHABLE, Cluster, cancel
from tessera.plugins.errors import PluginNotFound
from tessera.plugins.registry import PluginRegistry
from tessera.plugins.state import PluginStates

logger = logging.getLogger("tessera.plugins")

ACTIONS = ("enable", "disable", "reload")
_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0)


class PluginSwitches:
    """Announces this process's plugin switches and applies the other processes' ones."""

    def __init__(self, cluster: Cluster, registry: PluginRegistry, states: PluginStates) -> None:
        self._cluster = cluster
        self._registry = registry
        self._states = states
        self._channel = cluster.key("plugins")
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="tessera-plugin-switches")

    async def stop(self) -> None:
        if self._listener is not None:
            await cancel([self._listener])
            self._listener = None

    async def announce(self, action: str, name: str) -> None:
        """Tell the other processes that plugin ``name`` was enabled, disabled or reloaded."""
        assert action in ACTIONS, action
        message = orjson.dumps({"node": self._cluster.node, "action": action, "name": name})
        try:
            await self._cluster.redis.publish(self._channel, message)
        except UNREACHABLE as exc:
            # Saved already: the others read it from the store when they reconnect.
            logger.warning("plugin %s %s not announced to the cluster: %s", name, action, exc)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            pubsub = self._cluster.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                # Subscribed first, then read: no switch falls between the two.
                await self._catch_up()
                self.subscribed.set()
                attempt = 0
                while True:
                    item = await pubsub.get_message(timeout=1.0)
                    if item is not None:
                        self._apply(orjson.loads(item["data"]))
            except UNREACHABLE:
                self.subscribed.clear()
                await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                attempt += 1
            finally:
                with contextlib.suppress(*UNREACHABLE):
                    await pubsub.aclose()

    def _apply(self, message: dict[str, str]) -> None:
        if message.get("node") != self._cluster.node:
            apply_switch(self._registry, message.get("action", ""), message.get("name", ""))

    async def _catch_up(self) -> None:
        """Apply the decisions saved while this process could not hear the channel."""
        await catch_up(self._registry, self._states)


def apply_switch(registry: PluginRegistry, action: str, name: str) -> None:
    """Apply what another process announced: ``action`` (enable, disable, reload) of
    plugin ``name``."""
    try:
        if action == "reload":
            registry.reload(name)
        elif action in ("enable", "disable"):
            registry.set_enabled(name, action == "enable")
        logger.info("plugin %s: %s, as another process asked", name, action)
    except PluginNotFound:
        logger.warning("plugin %s to %s is not loaded in this process", name, action)
    except Exception:
        logger.exception("applying %s of plugin %s failed", action, name)


async def catch_up(registry: PluginRegistry, states: PluginStates) -> None:
    """Apply the saved decisions this process may have missed."""
    for name, enabled in (await states.load()).items():
        plugin = registry.get(name)
        if plugin is not None and plugin.enabled != enabled:
            registry.set_enabled(name, enabled)
