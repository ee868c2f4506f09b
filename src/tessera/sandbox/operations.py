"""What a worker may ask of the server, run for the call in flight on that worker.

Each operation runs in the task of the call (or event) that the worker is serving, so
``db``, the services and their isolation see the same caller as for an in-process
plugin: the worker names the operation and its arguments, never who it acts for.
Arguments are plain data (BSON); results go back as plain data.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)

from tessera.bounded_text import cut
from tessera.entitlements import sdk as entitlements_sdk
from tessera.isolation.cursor import stored_batch
from tessera.sandbox.remote_db import (
    BATCH,
    COLLECTION_METHODS,
    CURSOR_METHODS,
    CURSOR_MODIFIERS,
    DATABASE_METHODS,
)
from tessera.sandbox.remote_services import SERVICES
from tessera.services import running
from tessera.services.channels import in_app_channel
from tessera.services.database import db
from tessera.services.event_bus import plugin_event
from tessera.services.notifications import notifications_manager
from tessera.services.plugin_settings import settings_manager
from tessera.services.users import users_collection
from tessera.services.websocket import websocket_manager

logger = logging.getLogger("tessera.sandbox")

SERVICE_OBJECTS: dict[str, Any] = {
    "notifications_manager": notifications_manager,
    "settings_manager": settings_manager,
    "websocket_manager": websocket_manager,
    "users_collection": users_collection,
    "in_app_channel": in_app_channel,
    "entitlements": entitlements_sdk,
}
_OPERATIONS: dict[str, type] = {
    c.__name__: c for c in (InsertOne, DeleteOne, DeleteMany, ReplaceOne, UpdateOne, UpdateMany)
}
RESULT_FIELDS = (
    "inserted_id",
    "inserted_ids",
    "matched_count",
    "modified_count",
    "upserted_id",
    "deleted_count",
    "inserted_count",
    "upserted_count",
    "upserted_ids",
)
# Cursors: the first batch answers a first ``async for`` step in one round trip, later
# batches are larger; ``to_list(n)`` asks for the n it wants (up to BATCH), so the store
# reads what it would read in-process. A batch also stops at BATCH_BYTES (16 MiB, as
# MongoDB's), and so does what the server fetches ahead of it: it reads a cursor's first
# PROBE documents, then as many more as fit in BATCH_BYTES at the size they had. A call
# keeps its MAX_CURSORS latest cursors; reading an older one fails (a ``to_list(n)`` that
# got its n leaves its cursor open, as in-process). Documents fetched but too many for a
# batch wait on the server; past HELD_BYTES of them in a call, opening a cursor closes the
# oldest that hold some (a probe of small documents can precede large ones, so each cursor
# may hold much more than BATCH_BYTES, and 64 of them would hold gigabytes).
FIRST_BATCH = 101
BATCH_BYTES = 16 * 1024 * 1024
PROBE = 16
MAX_CURSORS = 64
HELD_BYTES = 2 * BATCH_BYTES
_INT32 = struct.Struct("<i")
_INT32_MAX = 2**31 - 1
# An array's element keys, as BSON has them: a document (3), its index, a zero.
_ITEM_KEYS = [b"\x03%d\x00" % i for i in range(BATCH)]
# Log lines a call may send; later ones are dropped (a worker cannot flood the log).
MAX_LOG_LINES = 1000
MAX_LOG_CHARS = 10_000
# Logger names a plugin's worker may log under: its own logger, and up to MAX_LOGGERS
# below it (`_logger_name`), by plugin.
MAX_LOGGER_NAME = 200
MAX_LOGGERS = 100
_loggers: dict[str, set[str]] = {}
# What a worker's line may not hold as it is: C0 and C1 control characters but the tab,
# and Unicode's line separators (a forged record after a line break, a terminal's escape
# sequences). What it prints keeps its line breaks (a line at a time goes to the output).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_PRINTED_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class ProtocolViolation(Exception):
    """The worker sent what no plugin code could have asked for: it is replaced."""


@dataclass
class Cursor:
    """A cursor the worker is reading, with documents fetched but not yet sent."""

    inner: Any
    pending: list[dict[str, Any]] = field(default_factory=list)
    exhausted: bool = False
    #: BSON bytes per document in what was fetched so far (0: nothing yet).
    document_bytes: int = 0
    #: BSON bytes of ``pending``, as measured when a batch too large to send left them.
    held: int = 0
    #: Whether the store reads its batches bounded in bytes (a find on the embedded
    #: store: `stored_batch`); None until the first read says.
    bounded: bool | None = None


@dataclass
class CallState:
    """What the server keeps for one call in flight on a worker."""

    plugin: str
    subscribe: Callable[[str, str, bool, bool], None]
    cursors: dict[int, Cursor] = field(default_factory=dict)
    admins: dict[str, Any] = field(default_factory=dict)
    next_cursor: int = 1
    log_lines: int = 0
    #: Whether ``n`` more characters of output fit the plugin's budget a minute (its
    #: pool's, shared with what its workers print); None: no budget (a test's state).
    output: Callable[[int], bool] | None = None


async def perform(op: dict[str, Any], state: CallState) -> Any:
    """Run one operation; raises ProtocolViolation for one that is not an operation."""
    handler = _HANDLERS.get(op.get("op"))  # type: ignore[arg-type]
    if handler is None:
        raise ProtocolViolation(f"unknown operation {op.get('op')!r}")
    return await handler(op, state)


def _arguments(op: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    args, kwargs = op.get("args", []), op.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ProtocolViolation("operation arguments must be a list and a document")
    if "sort" in kwargs:
        kwargs["sort"] = _pairs(kwargs["sort"])
    return args, kwargs


def _pairs(value: Any) -> Any:
    """``[["a", 1]]`` back to ``[("a", 1)]``: BSON has no tuples, sorts and keys need them."""
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return [tuple(p) for p in value]
    return value


def _database(op: dict[str, Any], state: CallState) -> Any:
    reason = op.get("admin")
    if reason is None:
        return db
    if not isinstance(reason, str):
        raise TypeError("db.as_admin() needs a reason, e.g. db.as_admin(reason='export')")
    if reason not in state.admins:
        state.admins[reason] = db.as_admin(reason=reason)
    return state.admins[reason]


def _collection(op: dict[str, Any], state: CallState) -> Any:
    name = op.get("coll")
    if not isinstance(name, str):
        raise TypeError(f"collection names must be strings, got {name!r}")
    return _database(op, state)[name]


def plain(value: Any) -> Any:
    """A result as BSON can carry it: PyMongo's result objects become their fields."""
    kind = type(value).__name__
    if kind.endswith("Result") and hasattr(value, "acknowledged"):
        fields = {f: getattr(value, f) for f in RESULT_FIELDS if hasattr(value, f)}
        return {"__result__": kind, **fields}
    return value


async def _settle(value: Any) -> Any:
    return plain(await value if inspect.isawaitable(value) else value)


async def _db(op: dict[str, Any], state: CallState) -> Any:
    method = op.get("method")
    if method not in COLLECTION_METHODS:
        raise AttributeError(f"collection method {method!r} is not available to plugins")
    args, kwargs = _arguments(op)
    if method == "create_index" and args:
        args[0] = _pairs(args[0])
    if method in ("bulk_write", "create_indexes") and args and isinstance(args[0], list):
        args[0] = [_operation(o) for o in args[0]]
    return await _settle(getattr(_collection(op, state), method)(*args, **kwargs))


def _operation(value: Any) -> Any:
    """PyMongo's operation objects back from the plain data the worker sent."""
    if not isinstance(value, dict):
        return value
    if "__index_model__" in value and isinstance(value["__index_model__"], dict):
        document = dict(value["__index_model__"])
        keys = document.pop("key", {})
        return IndexModel(list(keys.items()) if isinstance(keys, dict) else keys, **document)
    kind = value.get("__operation__")
    if kind in _OPERATIONS and isinstance(value.get("fields"), dict):
        fields = {k: v for k, v in value["fields"].items() if v is not None}
        if "sort" in fields:
            fields["sort"] = _pairs(fields["sort"])
        return _OPERATIONS[kind](**fields)
    return value


async def _database_method(op: dict[str, Any], state: CallState) -> Any:
    method = op.get("method")
    if method not in DATABASE_METHODS:
        raise AttributeError(f"database method {method!r} is not available to plugins")
    args, _ = _arguments(op)
    result = await getattr(_database(op, state), method)(*args)
    return None if method == "create_collection" else plain(result)


async def _database_attribute(op: dict[str, Any], state: CallState) -> None:
    name = op.get("name")
    if not isinstance(name, str):
        raise ProtocolViolation("an attribute name must be a string")
    getattr(db, name)  # raises for a closed attribute, as in-process


async def _as_admin(op: dict[str, Any], state: CallState) -> None:
    _database({"admin": op.get("reason")}, state)


async def _open(op: dict[str, Any], state: CallState) -> Any:
    query = op.get("query")
    chain = op.get("chain", [])
    if not isinstance(query, dict) or not isinstance(chain, list):
        raise ProtocolViolation("a cursor needs its query and modifiers")
    if query.get("users"):
        documents = await users_collection.find(*_arguments(query)[0][:2]).to_list(None)
        return {"docs": documents, "cursor": 0}
    if query.get("method") not in CURSOR_METHODS:
        raise ProtocolViolation(f"cursor method {query.get('method')!r}")
    args, kwargs = _arguments(query)
    cursor = getattr(_collection(query, state), query["method"])(*args, **kwargs)
    for step in chain:
        if not (isinstance(step, list) and len(step) == 3 and step[0] in CURSOR_MODIFIERS):
            raise AttributeError(f"cursor modifier {step!r} is not available to plugins")
        name, step_args, step_kwargs = step
        step_args = [_pairs(a) for a in step_args] if isinstance(step_args, list) else []
        cursor = getattr(cursor, name)(*step_args, **(step_kwargs or {}))
    if len(state.cursors) >= MAX_CURSORS:
        del state.cursors[next(iter(state.cursors))]  # the oldest
    _release(state)
    number = state.next_cursor
    state.next_cursor += 1
    state.cursors[number] = Cursor(cursor)
    return await _batch(state, number, _count(op, FIRST_BATCH))


async def _more(op: dict[str, Any], state: CallState) -> Any:
    number = op.get("cursor")
    if not isinstance(number, int) or not 0 < number < state.next_cursor:
        raise ProtocolViolation(f"no cursor {number!r} in this call")
    if number not in state.cursors:
        raise RuntimeError(
            f"cursor closed: a call keeps its {MAX_CURSORS} latest cursors open, and this "
            "one is older, or held documents too large for one batch while the call held "
            f"over {HELD_BYTES // 1024 // 1024} MiB of them (read a cursor to its end "
            "before opening many more)"
        )
    return await _batch(state, number, _count(op, BATCH))


def _release(state: CallState) -> None:
    """Close the oldest cursors holding fetched documents while the call holds more than
    HELD_BYTES of them."""
    for number in [n for n, c in state.cursors.items() if c.held]:
        if sum(c.held for c in state.cursors.values()) <= HELD_BYTES:
            return
        del state.cursors[number]


def _count(op: dict[str, Any], default: int) -> int:
    """The documents the worker asks for (what ``to_list(n)`` still wants), within BATCH."""
    count = op.get("count")
    return count if type(count) is int and 0 < count <= BATCH else default


async def _batch(state: CallState, number: int, count: int) -> RawBSONDocument:
    """The next ``count`` documents of cursor ``number``, encoded once as the answer (a
    document per encode costs three times as much); halved until the frame is within
    BATCH_BYTES, and one document goes alone whatever its size."""
    cursor = state.cursors[number]
    await _fetch(cursor, count)
    documents = cursor.pending[:count]
    whole = 0
    while True:
        more = not cursor.exhausted or len(documents) < len(cursor.pending)
        batch = _page(documents, number if more else 0)
        whole = whole or len(batch)
        if len(batch) <= BATCH_BYTES or len(documents) <= 1:
            break
        documents = documents[: len(documents) // 2]
    del cursor.pending[: len(documents)]
    left = max(cursor.held, whole) - len(batch)
    cursor.held = left if cursor.pending and left > 0 else 0
    if not more:
        del state.cursors[number]
    return RawBSONDocument(batch)


def _page(documents: list[Any], cursor: int) -> bytes:
    """The BSON of ``{"docs": documents, "cursor": cursor}``. Documents read as their
    stored BSON (bytes) are copied in as they are, without decoding them: the frame is
    put together here, as ``bson.encode`` would make it."""
    if (
        not 0 < len(documents) <= BATCH
        or cursor > _INT32_MAX
        or any(type(d) is not bytes for d in documents)
    ):
        docs = [RawBSONDocument(d) if type(d) is bytes else d for d in documents]
        return bson.encode({"docs": docs, "cursor": cursor})
    items = b"".join(itertools.chain.from_iterable(zip(_ITEM_KEYS, documents, strict=False)))
    array = _INT32.pack(len(items) + 5) + items + b"\x00"
    number = b"\x10cursor\x00" + _INT32.pack(cursor)
    body = b"\x04docs\x00" + array + number
    return _INT32.pack(len(body) + 5) + body + b"\x00"


async def _fetch(cursor: Cursor, count: int) -> None:
    """Read up to ``count`` documents ahead, and about BATCH_BYTES of them at most: many
    large documents are not all held at once. A find on the embedded store reads them
    in one read the store bounds in bytes, as stored BSON (the worker decodes them, the
    server need not); other cursors read the first PROBE, which tell their size."""
    if cursor.bounded is not False:
        if cursor.pending or cursor.exhausted:
            return  # what a batch too large to send left is sent first
        batch = await stored_batch(cursor.inner, count)
        cursor.bounded = batch is not None
        if batch is not None:
            cursor.pending, cursor.exhausted = batch
            return
    while len(cursor.pending) < count and not cursor.exhausted:
        if cursor.document_bytes:
            room = BATCH_BYTES // cursor.document_bytes - len(cursor.pending)
        else:
            room = PROBE
        wanted = min(count - len(cursor.pending), room)
        if wanted <= 0 and cursor.pending:
            return
        wanted = max(wanted, 1)
        fetched = await cursor.inner.to_list(wanted)
        cursor.exhausted = len(fetched) < wanted
        cursor.pending.extend(fetched)
        if fetched and not cursor.document_bytes and not cursor.exhausted:
            size = len(bson.encode({"docs": fetched}))
            cursor.document_bytes = max(1, size // len(fetched))


async def _service(op: dict[str, Any], state: CallState) -> Any:
    service, method = str(op.get("service")), str(op.get("method"))
    if method not in SERVICES.get(service, {}):
        raise AttributeError(f"{service}.{method} is not available to plugins")
    args, kwargs = _arguments(op)
    return await _settle(getattr(SERVICE_OBJECTS[service], method)(*args, **kwargs))


async def _attribute(op: dict[str, Any], state: CallState) -> None:
    service, name = op.get("service"), op.get("name")
    if service not in SERVICE_OBJECTS or not isinstance(name, str) or name.startswith("_"):
        raise ProtocolViolation(f"attribute {name!r} of {service!r}")
    getattr(SERVICE_OBJECTS[service], name)  # raises what it raises in-process


async def _publish(op: dict[str, Any], state: CallState) -> int:
    # The payload was decoded from the worker's frame: no one else holds it to change it.
    published = running.current().bus.publish(
        plugin_event(op.get("event")), op.get("payload"), copied=True
    )
    return int(await published)


async def _subscribe(op: dict[str, Any], state: CallState) -> None:
    event, every = op.get("event"), bool(op.get("every_process"))
    if not isinstance(event, str):
        raise TypeError(f"event names must be strings, got {event!r}")
    state.subscribe(state.plugin, event, every, op.get("op") == "subscribe")


async def _log(op: dict[str, Any], state: CallState) -> None:
    log_line(op, state)


def log_line(op: dict[str, Any], state: CallState) -> None:
    """Log a line the plugin logged, under its logger (``mozaiks_plugins.NAME`` or one
    below it) and the call's context; past MAX_LOG_LINES a call's lines are dropped, and
    past the plugin's output budget a minute (what its workers print counts too) every
    call's are, so a plugin called often cannot fill the log's disk either."""
    state.log_lines += 1
    if state.log_lines > MAX_LOG_LINES:
        if state.log_lines == MAX_LOG_LINES + 1:
            logger.warning("plugin %s: further log lines of this call dropped", state.plugin)
        return
    text = worker_text(op.get("msg", ""), MAX_LOG_CHARS)
    if state.output is not None and not state.output(len(text)):
        return
    level = op.get("level")
    level = level if isinstance(level, int) and 0 < level <= logging.CRITICAL else logging.INFO
    logging.getLogger(_logger_name(op.get("name"), state.plugin)).log(level, "%s", text)


def worker_text(value: Any, limit: int, *, tail: bool = False) -> str:
    """Text a worker sent, for the server's log or an error: a string of at most ``limit``
    characters (its end when ``tail``: a traceback's last lines say what was raised), its
    line breaks indented and other control characters escaped, so it cannot pass for a
    log record of the server's, flood the log or drive a terminal."""
    if type(value) is not str:
        return f"<{type(value).__name__}>"
    return _CONTROL.sub(_escaped, cut(value, limit, tail=tail))


def printed_text(text: str) -> str:
    """What a worker printed, for the server's output: its control characters but line
    breaks and tabs escaped, so it cannot drive the operator's terminal (title, clipboard,
    screen) nor write over a line."""
    return _PRINTED_CONTROL.sub(_escaped, text)


def _logger_name(name: Any, plugin: str) -> str:
    """The logger a worker's line goes to: the name it gave when that is its plugin's
    logger or one below it, short, and one of the plugin's first MAX_LOGGERS; else the
    plugin's own. The server keeps every logger it is asked for, for good, and makes one
    for each dotted prefix of a new name (0.3 s and 400 MB for a 40 KB name of 20,000
    dots): a worker's names must not be its to choose without bound."""
    own = f"mozaiks_plugins.{plugin}"
    if type(name) is not str or not name.startswith("mozaiks_plugins."):
        return f"tessera.sandbox.{plugin}"
    if name != own and not (
        name.startswith(own + ".") and len(name) <= MAX_LOGGER_NAME and name.count(".") <= 8
    ):
        return own
    names = _loggers.setdefault(plugin, set())
    if name not in names:
        if len(names) >= MAX_LOGGERS:
            return own
        names.add(name)
    return name


def _escaped(control: re.Match[str]) -> str:
    """A control character as its escape; a line break followed by an indent, so a
    continued line (a traceback's) cannot pass for a log record of its own."""
    char = control.group(0)
    return "\n    " if char == "\n" else repr(char)[1:-1]


Handler = Callable[[dict[str, Any], CallState], Awaitable[Any]]
_HANDLERS: dict[str, Handler] = {
    "db": _db,
    "database": _database_method,
    "database_attribute": _database_attribute,
    "as_admin": _as_admin,
    "open": _open,
    "more": _more,
    "service": _service,
    "attribute": _attribute,
    "publish": _publish,
    "subscribe": _subscribe,
    "unsubscribe": _subscribe,
    "log": _log,
}

#: Operations answered with nothing: the worker does not wait for them.
UNANSWERED = frozenset({"log"})
