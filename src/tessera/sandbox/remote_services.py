"""The contract's services inside a worker: ``event_bus``, ``notifications_manager``,
``settings_manager``, ``websocket_manager``, ``users_collection``, ``in_app_channel``.

Each method sends one request; the server runs the same method of the in-process service
for the call in progress, so what a sandboxed plugin may do (notify another user, send to
another user's socket) is checked exactly as in-process. Event handlers stay in the
worker: subscribing tells the server to forward matching events here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from tessera.sandbox.channel import current
from tessera.sandbox.remote_db import RemoteCursor, _frozen

Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)

# The methods of each service, and whether they are coroutines in-process (so the proxy
# is awaited, or answers at once, exactly like the object it stands for).
SERVICES: dict[str, dict[str, bool]] = {
    "notifications_manager": {
        "create_notification": True,
        "delete_notification": True,
        "get_preferences": True,
        "list_notifications": True,
        "mark_all_read": True,
        "mark_read": True,
        "set_preferences": True,
        "unread_count": True,
    },
    "settings_manager": {"get_plugin_settings": True, "save_plugin_settings": True},
    "websocket_manager": {"broadcast": True, "send_to_user": True, "connection_count": False},
    "users_collection": {"find_one": True, "count_documents": True},
    "in_app_channel": {
        "send": True,
        "send_bulk": True,
        "get_config": False,
        "is_enabled": False,
    },
    "entitlements": {
        "check_action": True,
        "check_feature": True,
        "check_limit": True,
        "consume_limit": True,
        "get_usage": True,
    },
}


class RemoteService:
    """One service: its methods, each a request to the server."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, method: str) -> Any:
        is_async = SERVICES[self._service].get(method)
        if is_async is None:
            if method.startswith("_"):
                raise AttributeError(method)
            # The error the service itself gives for the name (a refused write, a typo).
            current().request("attribute", service=self._service, name=method)
            raise AttributeError(f"{self._service}.{method}")
        ask = current().request
        service = self._service

        def call(*args: Any, **kwargs: Any) -> Any:
            return ask("service", service=service, method=method, args=list(args), kwargs=kwargs)

        async def acall(*args: Any, **kwargs: Any) -> Any:
            return call(*args, **kwargs)

        return acall if is_async else call

    def __repr__(self) -> str:
        return f"<{self._service} (sandboxed)>"


def remote_functions(service: str) -> dict[str, Callable[..., Any]]:
    """A module's functions as proxies (``core.entitlements``): each call one request."""

    def remote(method: str) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return current().request(
                "service", service=service, method=method, args=list(args), kwargs=kwargs
            )

        call.__name__ = call.__qualname__ = method
        return call

    return {method: remote(method) for method in SERVICES[service]}


class RemoteUsers(RemoteService):
    """``users_collection``: the caller's own user record."""

    def __init__(self) -> None:
        super().__init__("users_collection")

    def find(self, filter: Any = None, projection: Any = None) -> RemoteCursor:
        return RemoteCursor(_frozen({"users": True, "args": [filter, projection]}))

    @property
    def name(self) -> str:
        return "users"


class Published:
    """What ``publish`` returns: the number of handlers, awaited or not."""

    def __init__(self, handlers: int) -> None:
        self.handlers = handlers

    def __await__(self) -> Any:
        yield from ()
        return self.handlers


class RemoteEventBus:
    """``event_bus``: publish through the server; handlers run here when forwarded."""

    def __init__(self) -> None:
        #: Handlers by (pattern, every_process), in subscription order.
        self.handlers: dict[tuple[str, bool], list[Handler]] = {}
        #: Whether the plugin is being imported: subscriptions then go in the ready frame.
        self.importing = True

    def publish(self, event: str, payload: Any = None) -> Published:
        answer = current().request("publish", event=event, payload=payload)
        return Published(int(answer or 0))

    def subscribe(self, event: str, handler: Handler, *, every_process: bool = False) -> None:
        if not callable(handler):
            raise TypeError(f"event handler must be callable, got {handler!r}")
        key = (str(event), bool(every_process))
        handlers = self.handlers.setdefault(key, [])
        if handler in handlers:
            return
        handlers.append(handler)
        if len(handlers) == 1 and not self.importing:
            current().request("subscribe", event=key[0], every_process=key[1])

    def unsubscribe(self, event: str, handler: Handler) -> None:
        for key, handlers in self.handlers.items():
            if key[0] == event and handler in handlers:
                handlers.remove(handler)
                if not handlers and not self.importing:
                    current().request("unsubscribe", event=key[0], every_process=key[1])

    def subscriptions(self) -> list[list[Any]]:
        return [[event, every] for (event, every), hs in self.handlers.items() if hs]

    def matching(self, pattern: str, every_process: bool) -> list[Handler]:
        return list(self.handlers.get((pattern, every_process), ()))

    def __repr__(self) -> str:
        return "<core.event_bus (sandboxed)>"


event_bus = RemoteEventBus()


def on_event(event: str, *, every_process: bool = False) -> Callable[[H], H]:
    """Decorator subscribing a function to ``event`` (or a ``prefix*`` pattern)."""

    def decorator(handler: H) -> H:
        event_bus.subscribe(event, handler, every_process=every_process)
        return handler

    return decorator


def is_async(handler: Handler) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)
