"""Errors across the channel: described as plain data on one side, raised on the other.

Only data crosses: a type name, a message, PyMongo's code and details. The receiving side
rebuilds a known class by name (PyMongo's errors, isolation errors, a few builtins) and
anything else as RuntimeError; no class is ever loaded from what the other side sent.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

from tessera.bounded_text import cut

if TYPE_CHECKING:
    from pymongo.errors import OperationFailure

_BUILTINS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        ValueError,
        TypeError,
        KeyError,
        LookupError,
        PermissionError,
        RuntimeError,
        NotImplementedError,
        AttributeError,
    )
}


#: Characters of an error's message, and of its traceback, sent across: an error of
#: megabytes would not fit a frame (the worker then died of it) nor belong in a log line.
MAX_TEXT = 64 * 1024


def describe(exc: BaseException, *, with_traceback: bool = False) -> dict[str, Any]:
    """``exc`` as data: its class name, message and, for PyMongo, code and details."""
    described: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": cut(_message(exc), MAX_TEXT),
    }
    if _is_operation_failure(exc):
        assert isinstance(exc, _operation_failure_class())
        described["code"] = exc.code
        described["details"] = exc.details if isinstance(exc.details, dict) else None
    if with_traceback:
        text = "".join(traceback.format_exception(exc))
        described["traceback"] = cut(text, MAX_TEXT, tail=True)
    return described


def _is_operation_failure(exc: BaseException) -> bool:
    # Not imported for the check: a worker whose plugin never imported PyMongo starts
    # faster without it, and then no exception can be one of its classes.
    return "pymongo.errors" in sys.modules and isinstance(exc, _operation_failure_class())


def _operation_failure_class() -> type[OperationFailure]:
    from pymongo.errors import OperationFailure

    return OperationFailure


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if _is_operation_failure(exc):
        return str(exc._message)  # type: ignore[attr-defined]
    return str(exc)


def rebuild(described: Any) -> Exception:
    """The exception ``describe`` described, rebuilt from known classes only."""
    if not isinstance(described, dict):
        return RuntimeError("malformed error from the other side of the sandbox channel")
    name = str(described.get("type", ""))
    message = str(described.get("message", ""))
    if name == "IsolationError":
        from tessera.isolation.errors import IsolationError

        return _operation_failure(IsolationError, message, described)
    if name == "NotBound":
        from tessera.context import NotBound

        return NotBound(message)
    if name == "NotProvided":
        from tessera.services.unprovided import NotProvided

        return NotProvided(message)
    import pymongo.errors

    mongo = getattr(pymongo.errors, name, None)
    if isinstance(mongo, type) and issubclass(mongo, pymongo.errors.OperationFailure):
        return _operation_failure(mongo, message, described)
    if isinstance(mongo, type) and issubclass(mongo, pymongo.errors.PyMongoError):
        return mongo(message)
    return _BUILTINS.get(name, RuntimeError)(message)


def _operation_failure(
    cls: type[OperationFailure], message: str, described: dict[str, Any]
) -> OperationFailure:
    # Not cls(...): IsolationError's constructor adds a suffix the message already has.
    from pymongo.errors import OperationFailure

    exc = cls.__new__(cls)
    code = described.get("code")
    details = described.get("details")
    OperationFailure.__init__(
        exc,
        message,
        code if isinstance(code, int) else None,
        details if isinstance(details, dict) else None,
    )
    return exc
