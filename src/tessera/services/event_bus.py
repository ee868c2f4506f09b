"""The event bus: publish events and subscribe handlers, within and across plugins.

``publish`` never waits for a handler: it schedules one task per matching subscription and
returns an object that may be awaited or ignored, so plugins written either way work. The
handlers run afterwards, each in a copy of the publisher's context (the same caller, app
and request id), bounded by a timeout; a handler that raises or hangs is logged with the
event's name and affects nobody else. A subscription made while a plugin is imported or
called belongs to that plugin and is dropped when the plugin is unloaded or reloaded.

:class:`EventBus` is the runtime's. ``core.event_bus`` is :class:`PluginEventBus`: publish,
subscribe, and unsubscribe what the calling plugin subscribed; the runtime's own events
are published by the runtime only.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import inspect
import logging
import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from tessera.context import callerless_plugin, current_call, current_event, owning_plugin
from tessera.plugins import loader
from tessera.plugins.loader import PACKAGE_ROOT
from tessera.plugins.threads import PluginThreads
from tessera.services import running
from tessera.services.events import Event, EventBackend, LocalEventBackend

logger = logging.getLogger("tessera.events")

Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)

DEFAULT_HANDLER_TIMEOUT = 30.0
# Event names whose matching subscriptions are remembered; past that the memo starts over
# (plugins may publish under names made up per call).
MATCHING_MEMO_SIZE = 1024
#: The longest event name (or pattern) the bus takes.
MAX_EVENT_NAME = 256


@dataclass(frozen=True, slots=True)
class Subscription:
    """A handler for the events an exact name or a trailing-``*`` pattern selects."""

    event: str
    handler: Handler
    owner: str | None
    #: With a cluster backend: run in every process, not once per cluster (local caches).
    every_process: bool = False

    def matches(self, name: str) -> bool:
        if self.event.endswith("*"):
            return name.startswith(self.event[:-1])
        return name == self.event

    @property
    def label(self) -> str:
        name = getattr(self.handler, "__qualname__", repr(self.handler))
        return f"{self.owner}:{name}" if self.owner else name

    @property
    def key(self) -> str:
        """The same string in every process holding this subscription (cluster backends)."""
        module = getattr(self.handler, "__module__", "")
        name = getattr(self.handler, "__qualname__", type(self.handler).__qualname__)
        return f"{self.owner or '-'}|{self.event}|{module}.{name}"


class Published:
    """What ``publish`` returns: the handlers are scheduled already; awaiting is optional."""

    __slots__ = ("event", "handlers")

    def __init__(self, event: str, handlers: int) -> None:
        self.event = event
        #: How many subscriptions matched (in this process, with the local backend).
        self.handlers = handlers

    def __await__(self) -> Generator[Any, None, int]:
        yield from ()
        return self.handlers

    def __repr__(self) -> str:
        return f"<Published {self.event!r} to {self.handlers} handlers>"


def event_name(event: Any) -> str:
    """``event`` as an exact ``str``: a subclass could hash or compare one way for a check
    and another for the match (a runtime event's name that misses ``RUNTIME_EVENTS``).
    At most MAX_EVENT_NAME characters: the bus remembers the subscriptions matching each
    name it saw (MATCHING_MEMO_SIZE names), and names of megabytes filled it with
    gigabytes (a sandboxed plugin's 200 events of 8 MB names held 1.5 GB)."""
    if not isinstance(event, str) or not event:
        raise ValueError(f"event name must be a non-empty string, got {event!r}")
    if len(event) > MAX_EVENT_NAME:
        raise ValueError(
            f"event name of {len(event)} characters is over the limit of {MAX_EVENT_NAME}"
        )
    return str.__str__(event)


def plugin_event(event: Any) -> str:
    """``event`` as a name a plugin may publish: the runtime's own are refused."""
    event = event_name(event)
    # A handler gets the payload, not the name: one subscribed to "entitlement.*" would
    # take a plugin's "entitlement.x" for the runtime's report on a user's plan.
    if event in RUNTIME_EVENTS or event.startswith(RUNTIME_NAMESPACE):
        raise ValueError(f"{event!r} is published by the runtime; publish events of your own")
    return event


class EventBus:
    """Subscriptions by event name or pattern, and the tasks running their handlers."""

    def __init__(self, backend: EventBackend | None = None) -> None:
        self._subscriptions: list[Subscription] = []
        # Sync plugins subscribe from worker threads while the loop publishes.
        self._lock = threading.Lock()
        # Every plugin call publishes: the subscriptions each event name matches are
        # remembered until subscriptions change or a plugin module is unloaded.
        self._matching: dict[str, tuple[Subscription, ...]] = {}
        self._matching_unloads = loader.unloads
        self._backend: EventBackend = backend or LocalEventBackend()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._threads: PluginThreads | None = None
        self.handler_timeout = DEFAULT_HANDLER_TIMEOUT

    def start(
        self,
        *,
        handler_timeout: float = DEFAULT_HANDLER_TIMEOUT,
        backend: EventBackend | None = None,
        threads: PluginThreads | None = None,
    ) -> None:
        """Deliver events on the running loop; called by the runtime at start.

        ``threads``: where synchronous handlers run, under the same per-user and per-plugin
        shares as synchronous plugins (by default, asyncio's own worker threads).
        """
        self._loop = asyncio.get_running_loop()
        self.handler_timeout = handler_timeout
        self._threads = threads
        if backend is not None:
            self._backend = backend
        self._backend.start(self._deliver)

    async def stop(self) -> None:
        """Stop delivering and cancel the handlers still running."""
        await self._backend.stop()
        self._loop = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every handler started so far, and any they start, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def subscribe(self, event: str, handler: Handler, *, every_process: bool = False) -> None:
        """Call ``handler(payload)`` for each event named ``event`` (``prefix*`` for many).

        A subscription made while a plugin is imported or called belongs to that plugin.
        Subscribing the same handler to the same event twice has no further effect. With
        several processes, each event is handled once in the cluster, or in every process
        with ``every_process=True``.
        """
        event = event_name(event)
        if not callable(handler):
            raise TypeError(f"event handler must be callable, got {handler!r}")
        if "*" in event[:-1]:
            raise ValueError(f"only a trailing '*' is supported in event patterns: {event!r}")
        with self._lock:
            if any(s.event == event and s.handler == handler for s in self._subscriptions):
                return
            self._subscriptions.append(Subscription(event, handler, owning_plugin(), every_process))
            self._matching = {}

    def unsubscribe(self, event: str, handler: Handler, *, owner: str | None = None) -> None:
        """Remove ``handler`` from ``event`` (only ``owner``'s subscription, when given);
        nothing happens when it was not subscribed."""

        def removed(s: Subscription) -> bool:
            mine = owner is None or s.owner == owner
            return mine and s.event == event and s.handler == handler

        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if not removed(s)]
            self._matching = {}

    def forget(self, plugin: str) -> int:
        """Drop every subscription ``plugin`` made; returns how many were dropped."""
        with self._lock:
            kept = [s for s in self._subscriptions if s.owner != plugin]
            dropped = len(self._subscriptions) - len(kept)
            self._subscriptions = kept
            self._matching = {}
        if dropped:
            logger.debug("dropped %d event subscriptions of plugin %s", dropped, plugin)
        return dropped

    def subscriptions(self, event: str) -> tuple[Subscription, ...]:
        """The subscriptions an event named ``event`` reaches, in subscription order."""
        matching = self._matching.get(event)
        if matching is not None and self._matching_unloads == loader.unloads:
            return matching
        with self._lock:
            if self._matching_unloads != loader.unloads:
                self._matching = {}
                self._matching_unloads = loader.unloads
            stale = [s for s in self._subscriptions if _from_replaced_module(s.handler)]
            if stale:
                # A plugin module imported again without an unload notice (a registry
                # used outside a runtime): its old handlers must not run a second time.
                self._subscriptions = [s for s in self._subscriptions if s not in stale]
            matching = tuple(s for s in self._subscriptions if s.matches(event))
            if len(self._matching) >= MATCHING_MEMO_SIZE:
                self._matching = {}
            self._matching[event] = matching
        return matching

    def all_subscriptions(self) -> list[Subscription]:
        """Every subscription of this process (for cluster backends)."""
        with self._lock:
            return [s for s in self._subscriptions if not _from_replaced_module(s.handler)]

    def listened(self, event: str) -> bool:
        """Whether publishing ``event`` reaches anyone: a subscription here, or, with a
        cluster backend, the other processes. Lets a publisher skip building a payload."""
        return not self._backend.local or bool(self.subscriptions(event))

    def publish(
        self, event: str, payload: Any = None, *, as_caller: bool = True, copied: bool = False
    ) -> Published:
        """Schedule the handlers of ``event`` with ``payload``; works awaited or not.

        Safe from any thread: a synchronous plugin in a worker thread hands the event to the
        runtime's loop. The payload is copied, so later changes by the publisher are unseen.
        With ``as_caller`` the handlers run as the caller of the call in progress; without,
        as no one (the runtime's own events: a report of what happened lends no plugin the
        authority of whoever it happened to). ``copied``: no one else holds ``payload`` (a
        sandbox worker's, decoded from its frame), so it is not copied again (2.4 million
        values took the event loop 1 s to copy).
        """
        event = event_name(event)
        loop = self._loop
        if loop is None:
            logger.warning("event %r dropped: the event bus is not running", event)
            return Published(event, 0)
        if not self.listened(event):
            return Published(event, 0)  # skip the copy: every plugin call publishes
        handlers = len(self.subscriptions(event))
        if not copied:
            with contextlib.suppress(Exception):  # an uncopyable payload is delivered shared
                payload = copy.deepcopy(payload)
        context = contextvars.copy_context()
        if not as_caller:
            context.run(current_call.set, None)
        published = Event(event, payload, context)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._backend.publish(published)
        else:
            loop.call_soon_threadsafe(self._backend.publish, published)
        return Published(event, handlers)

    def _deliver(self, event: Event) -> None:
        """Start one task per subscription the event matches (on the loop)."""
        assert self._loop is not None
        for subscription in self.subscriptions(event.name):
            context = event.context.copy()
            context.run(_enter_handler, subscription, event.name)
            task = self._loop.create_task(self._run(subscription, event), context=context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def handle(self, subscription: Subscription, event: Event) -> bool:
        """Run one subscription's handler for ``event`` (in a copy of its context); return
        whether it finished without raising or timing out. For cluster backends."""
        context = event.context.copy()
        context.run(_enter_handler, subscription, event.name)
        task = asyncio.get_running_loop().create_task(
            self._run(subscription, event), context=context
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await task

    async def _run(self, subscription: Subscription, event: Event) -> bool:
        try:
            async with asyncio.timeout(self.handler_timeout):
                handler = subscription.handler
                if _is_async(handler):
                    await handler(event.payload)
                else:
                    result = await self._in_thread(subscription, event.payload)
                    if inspect.isawaitable(result):
                        await result
            return True
        except TimeoutError:
            logger.error(
                "handler %s of event %r did not finish within %.1fs and was cancelled",
                subscription.label,
                event.name,
                self.handler_timeout,
            )
        except Exception:
            logger.exception("handler %s of event %r raised", subscription.label, event.name)
        return False

    async def _in_thread(self, subscription: Subscription, payload: Any) -> Any:
        """A synchronous handler in a worker thread: a share of the plugin threads, held by
        its plugin and the caller it runs for, so one plugin's hanging handlers cannot take
        the threads every other plugin needs."""
        if self._threads is None:
            return await asyncio.to_thread(subscription.handler, payload)
        call = current_call.get()
        user = (call.identity.app_id, call.identity.user_id) if call else ("", "")
        owner = subscription.owner or ""
        return await self._threads.run(user, owner, subscription.handler, payload)


def _is_async(handler: Handler) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def _from_replaced_module(handler: Handler) -> bool:
    """Whether ``handler`` was defined in a plugin module that is no longer loaded."""
    function = getattr(handler, "__func__", handler)
    namespace = getattr(function, "__globals__", None)
    module = namespace.get("__name__") if isinstance(namespace, dict) else None
    if not isinstance(module, str) or not module.startswith(PACKAGE_ROOT + "."):
        return False
    loaded = sys.modules.get(module)
    return loaded is None or vars(loaded) is not namespace


def _enter_handler(subscription: Subscription, event: str) -> None:
    """Attribute the handler's work to the plugin that subscribed, keeping the caller."""
    current_event.set(event)
    call = current_call.get()
    if call is None and subscription.owner is not None:
        # A plugin's handler of an event published outside any call has no caller: like
        # plugin code at import, it may not use the database.
        callerless_plugin.set(subscription.owner)
    if call is not None and subscription.owner is not None:
        current_call.set(call._replace(plugin=subscription.owner))


# The events the runtime publishes about what it did; a plugin may not forge them.
RUNTIME_EVENTS = frozenset(
    {
        "plugin_executed",
        "plugin_execution_error",
        "plugin_settings_updated",
        "settings_updated",
        "notification_created",
        "profile_updated",
        "entitlement.consumed",
        "entitlement.limit_reached",
        "entitlement.feature_blocked",
        "entitlement.period_reset",
    }
)
#: Every name under it is the runtime's, as pattern subscribers (``entitlement.*``) see it.
RUNTIME_NAMESPACE = "entitlement."


class PluginEventBus:
    """``core.event_bus``: the event bus as plugins use it."""

    __slots__ = ()

    def publish(self, event: str, payload: Any = None) -> Published:
        """Schedule the handlers of ``event`` with a copy of ``payload``; works awaited or
        not. The handlers run as the caller who published."""
        name = plugin_event(event)  # a runtime's own event is refused with or without one
        return running.current().bus.publish(name, payload)

    def subscribe(self, event: str, handler: Handler, *, every_process: bool = False) -> None:
        """Call ``handler(payload)`` for each event named ``event`` (``prefix*`` for many);
        the subscription belongs to the calling plugin."""
        running.current().bus.subscribe(event, handler, every_process=every_process)

    def unsubscribe(self, event: str, handler: Handler) -> None:
        """Remove the calling plugin's subscription of ``handler`` to ``event``."""
        running.current().bus.unsubscribe(event, handler, owner=owning_plugin())

    def __repr__(self) -> str:
        return "<core.event_bus>"


event_bus = PluginEventBus()


def on_event(event: str, *, every_process: bool = False) -> Callable[[H], H]:
    """Decorator subscribing a function to ``event`` (or a ``prefix*`` pattern)::

    @on_event("todo:created")
    async def remember(payload):
        ...
    """

    def decorator(handler: H) -> H:
        running.current().bus.subscribe(event, handler, every_process=every_process)
        return handler

    return decorator
