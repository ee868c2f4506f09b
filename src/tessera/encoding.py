"""JSON on the wire: plugin results with BSON types encoded the way front ends expect.

``ObjectId`` becomes its hex string and ``datetime`` ISO 8601, so a plugin that forgets
to stringify ids still answers.
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

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class EncodingError(TypeError):
    """A value in a result has no JSON form."""


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
        return value.as_datetime().isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_json(value: Any) -> bytes:
    """Encode ``value`` as JSON bytes; EncodingError names the offending type."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise EncodingError(str(exc)) from None
