"""The plugin services a runtime owns, and starting and stopping them with it.

Each runtime makes its own :class:`Services`. Starting them binds them to its store, loop
and settings, and makes them the bound ones (:mod:`tessera.services.running`), which is
how the ``core.*`` facades, imported by plugins before any runtime exists, find them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tessera.services import running
from tessera.services.database import SYSTEM_DATABASE
from tessera.services.event_bus import EventBus
from tessera.services.events import LocalEventBackend
from tessera.services.events.shared import SharedEventBackend
from tessera.services.fanout import Fanout, LocalFanout
from tessera.services.fanout.shared import SharedFanout, SharedResumeLog
from tessera.services.notifications import NotificationService
from tessera.services.plugin_settings import SettingsService
from tessera.services.presence import Presence
from tessera.services.presence.shared import SharedPresenceStore
from tessera.services.profiles import ProfileService
from tessera.services.resume import ResumeLog, StoredResumeLog
from tessera.services.runtime_events import publish_plugin_call
from tessera.services.users import UserRecords
from tessera.services.websocket import WebSocketHub

if TYPE_CHECKING:
    from tessera.entitlements.gate import Gate
    from tessera.runtime import Runtime


@dataclass(eq=False)
class Services:
    """The services of one runtime, each told of the others it uses."""

    bus: EventBus
    websockets: WebSocketHub
    notifications: NotificationService
    plugin_settings: SettingsService
    profiles: ProfileService
    users: UserRecords
    #: What ``core.entitlements`` answers from: the runtime's gate (None: no plans file).
    entitlements: Gate | None = None

    @classmethod
    def made(cls) -> Services:
        """A runtime's services, not started."""
        bus = EventBus()
        websockets = WebSocketHub()
        return cls(
            bus=bus,
            websockets=websockets,
            notifications=NotificationService(websockets, bus),
            plugin_settings=SettingsService(bus),
            profiles=ProfileService(bus),
            users=UserRecords(),
        )

    def forget_subscriptions(self, plugin: str) -> None:
        """Drop what an unloaded plugin subscribed to."""
        self.bus.forget(plugin)


async def start_services(runtime: Runtime) -> None:
    """Start ``runtime``'s services (the event bus, WebSockets, notifications, plugin
    settings, profiles, user records) and bind them; call before plugins load, so what
    they do at import already works."""
    services = runtime.services
    bus, websockets = services.bus, services.websockets
    running.bind(services)
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
    await services.notifications.start(system)
    await services.plugin_settings.start(system, runtime.plugins)
    services.users.start(runtime.auth.accounts if runtime.auth is not None else None)
    await services.profiles.start(system)
    runtime.executor.add_listener(functools.partial(publish_plugin_call, bus))
    runtime.plugins.on_unload(services.forget_subscriptions)


async def stop_services(services: Services) -> None:
    """Stop ``services`` (close WebSockets, cancel running event handlers) and unbind them."""
    await services.websockets.stop()
    await services.bus.stop()
    services.notifications.stop()
    services.plugin_settings.stop()
    services.users.stop()
    services.profiles.stop()
    running.unbind(services)
