"""JSON on the wire: plugin results with BSON types encoded the way front ends expect.

``ObjectId`` becomes its hex string and ``datetime`` ISO 8601, so a plugin that forgets
to stringify ids still answers.

Datetimes are sent in one UTC form, ``2026-01-01T12:00:40.787000Z``, as notifications'
``created_at`` is: the store returns naive datetimes that mean UTC (as PyMongo does by
default), and a plugin's own ``datetime.now(UTC)`` is aware, so without this the same field
of the same document would read ``...40.787000`` when listed and ``...+00:00`` when
created. A naive datetime is taken as UTC; an aware one in another zone keeps its offset
(converting it would cost a Python call per datetime on every result).
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from bson import ObjectId
from bson.decimal128 import Decimal128
from bson.timestamp import Timestamp

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
)


class EncodingError(TypeError):
    """A value in a result has no JSON form."""


class ResultTooLarge(Exception):
    """A result of ``size`` bytes of JSON, over the ``limit`` of the way it came (a
    sandbox worker's channel), so it never reached the server whole."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a result of {size} bytes, over the limit of {limit}")
        self.size, self.limit = size, limit


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (Decimal128, Decimal)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Timestamp):
        return value.as_datetime()  # encoded as every other datetime
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Encoded(dict[str, Any]):
    """A plugin result whose JSON is made already: a sandbox worker encoded it with
    :func:`encode_json`, the server parsed it back to check it (valid, an object, no
    ``error`` key) and sends :attr:`json` as it is rather than encoding it again. Or the
    worker found it has no JSON form: :attr:`json` then raises EncodingError, as
    :func:`encode_json` does for the same result in-process. Or it was too large to send:
    :attr:`json` raises ResultTooLarge."""

    __slots__ = ("_json", "_problem", "_too_large")

    def __init__(
        self,
        value: dict[str, Any],
        json: bytes = b"",
        problem: str = "",
        too_large: ResultTooLarge | None = None,
    ) -> None:
        super().__init__(value)
        self._json = json
        self._problem = problem
        self._too_large = too_large

    @property
    def json(self) -> bytes:
        if self._too_large is not None:
            raise self._too_large
        if self._problem:
            raise EncodingError(self._problem)
        return self._json


def encode_json(value: Any) -> bytes:
    """Encode ``value`` as JSON bytes; EncodingError names the offending type."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise EncodingError(str(exc)) from None
