"""Who is calling, in which plugin, for which request: carried by a context variable.

Set once per plugin call by the executor. Tasks and worker threads started from that call
copy it, so a plugin's event handlers, background tasks and log lines keep the identity and
the request id that started them.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, NamedTuple, TextIO

from tessera.redaction import RedactSecrets

if TYPE_CHECKING:  # only a type here: the sandbox worker imports this module, not auth
    from tessera.auth.identity import Identity


class CallContext(NamedTuple):
    """The caller and the plugin of the call in progress (a tuple: made on every call)."""

    identity: Identity
    plugin: str
    request_id: str = "-"
    action: str = ""


current_call: ContextVar[CallContext | None] = ContextVar("tessera_call", default=None)
current_request_id: ContextVar[str] = ContextVar("tessera_request_id", default="-")
# The name of the event whose handler is running (set for each handler task).
current_event: ContextVar[str] = ContextVar("tessera_event", default="")
# Plugin code running with no caller: its module being imported, or its handler of an event
# published outside any call. What it registers belongs to it; it may not use the database.
callerless_plugin: ContextVar[str | None] = ContextVar("tessera_callerless_plugin", default=None)


class NotBound(RuntimeError):
    """``db`` or a service was used with no runtime running, or with no caller to scope it
    to."""


def no_caller(operation: str) -> NotBound:
    """The error for plugin code that used ``operation`` with no caller."""
    callerless = callerless_plugin.get()
    who = f"plugin {callerless!r}" if callerless is not None else "code"
    return NotBound(
        f"{who} used {operation} with no caller (while a plugin is imported, in a thread it "
        "started, or in a handler of an event published outside any call); database and "
        "service operations need a caller: run them inside execute() or in handlers of "
        "events your plugins publish (a module-level db['name'] is fine, it is resolved at "
        "each call)"
    )


def owning_plugin() -> str | None:
    """The plugin on whose behalf code runs now: one running with no caller, or being called."""
    callerless = callerless_plugin.get()
    if callerless is not None:
        return callerless
    call = current_call.get()
    return call.plugin if call is not None else None


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``plugin`` and ``user_id`` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = current_call.get()
        record.request_id = current_request_id.get()
        record.plugin = call.plugin if call else "-"
        record.user_id = call.identity.user_id if call else "-"
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s plugin=%(plugin)s] %(message)s"


# uvicorn's own loggers: they write URLs with their query, and an operator's logging
# configuration may give them handlers of their own that the root's filters never see.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) with the request context on every line, plugins' loggers
    included, and no token of a URL's query on any line (:mod:`tessera.redaction`)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        # On the logger too: its records are redacted before any handler sees them.
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
