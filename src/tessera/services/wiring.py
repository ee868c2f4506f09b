"""Starting and stopping the plugin services with a runtime.

The services are module singletons (plugins import their ``core.*`` facades before any
runtime exists); the runtime binds them to its store, loop and settings at start and
unbinds them at stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.services.database import SYSTEM_DATABASE
from tessera.services.event_bus import bus
from tessera.services.events import LocalEventBackend
from tessera.services.events.shared import SharedEventBackend
from tessera.services.fanout import Fanout, LocalFanout
from tessera.services.fanout.shared import SharedFanout, SharedResumeLog
from tessera.services.notifications import notifications
from tessera.services.plugin_settings import plugin_settings
from tessera.services.presence import Presence
from tessera.services.presence.shared import SharedPresenceStore
from tessera.services.profiles import profiles
from tessera.services.resume import ResumeLog, StoredResumeLog
from tessera.services.runtime_events import publish_plugin_call
from tessera.services.users import users
from tessera.services.websocket import websockets

if TYPE_CHECKING:
    from tessera.runtime import Runtime


def _forget_subscriptions(plugin: str) -> None:
    bus.forget(plugin)


async def start_services(runtime: Runtime) -> None:
    """Bind the event bus, WebSockets, notifications and plugin settings; call before
    plugins load, so what they do at import already works."""
    settings = runtime.settings
    system = runtime.store[SYSTEM_DATABASE]
    cluster = runtime.cluster
    window = {"max_messages": settings.ws_resume_messages, "max_age": settings.ws_resume_seconds}
    shared = runtime.shared
    if shared is not None:
        bus.start(
            handler_timeout=settings.handler_timeout,
            backend=SharedEventBackend(shared, bus, handler_timeout=settings.handler_timeout),
            threads=runtime.executor.threads,
        )
        log: ResumeLog = SharedResumeLog(shared, **window)
        fanout: Fanout = SharedFanout(shared)
        presence: Presence | None = Presence(SharedPresenceStore(shared))
    elif cluster is None:
        bus.start(
            handler_timeout=settings.handler_timeout,
            backend=LocalEventBackend(),
            threads=runtime.executor.threads,
        )
        stored = StoredResumeLog(system, **window)
        await stored.ensure_indexes()
        log = stored
        fanout = LocalFanout()
        presence = None
    else:
        # Here: the redis package is needed only by a cluster.
        from tessera.services.events.outbox import EventOutbox
        from tessera.services.events.redis import RedisEventBackend
        from tessera.services.fanout.held import HeldMessages
        from tessera.services.fanout.redis import RedisFanout, RedisResumeLog
        from tessera.services.presence.redis import RedisPresenceStore

        # Every process numbers each user's messages in Redis: see fanout/redis.py for why
        # the stored window is not enough once several processes send.
        kept = EventOutbox(system["event_outbox"])
        await kept.start()
        backend = RedisEventBackend(cluster, bus, kept, handler_timeout=settings.handler_timeout)
        bus.start(
            handler_timeout=settings.handler_timeout,
            backend=backend,
            threads=runtime.executor.threads,
        )
        held = HeldMessages()
        redis_log = RedisResumeLog(cluster, held, **window)
        log = redis_log
        fanout = RedisFanout(
            cluster,
            redis_log,
            held,
            on_reconnect=websockets.replay_missed,
            on_renumbered=websockets.renumbered,
        )
        runtime.metrics.watch_outage(cluster.outage, held, backend)
        presence = Presence(RedisPresenceStore(cluster))
        # What this process holds was not written while Redis was away, or expired.
        cluster.outage.after_restore(presence.renew)
    websockets.start(
        log,
        queue_size=settings.ws_queue_size,
        ping_interval=settings.ws_ping_interval,
        ping_timeout=settings.ws_ping_timeout,
        fanout=fanout,
        presence=presence,
    )
    await notifications.start(system)
    await plugin_settings.start(system, runtime.plugins)
    users.start(runtime.auth.accounts if runtime.auth is not None else None)
    await profiles.start(system)
    runtime.executor.add_listener(publish_plugin_call)
    runtime.plugins.on_unload(_forget_subscriptions)


async def stop_services() -> None:
    """Unbind the services: close WebSockets, cancel running event handlers."""
    await websockets.stop()
    await bus.stop()
    notifications.stop()
    plugin_settings.stop()
    users.stop()
    profiles.stop()
