"""MongoDB's BSON comparison order for plain Python values.

One function, `sort_value`, maps any BSON value to a tuple that Python orders, compares
and hashes exactly as MongoDB orders and compares the value. Everything else here
(`compare`, `equal`, `hash_key`, `SortKey`) is built on it, so the query matcher, sort,
``$group`` and ``distinct`` cannot disagree with one another.
"""

import datetime
import math
import re
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any

from bson.binary import Binary
from bson.code import Code
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from tessera.store.bounds import deadlines
from tessera.store.bounds.limits import INTERNAL_DOCUMENT_BYTES, approximate_size, value_error
from tessera.store.values.paths import MISSING

# MongoDB's canonical type ranks (server: canonicalizeBSONType). Gaps are MongoDB's own.
MINKEY = 1
NULL = 5
NUMBER = 10
STRING = 15
OBJECT = 20
ARRAY = 25
BINARY = 30
OBJECTID = 35
BOOL = 40
DATE = 45
TIMESTAMP = 47
REGEX = 50
CODE = 60
CODE_WITH_SCOPE = 65
MAXKEY = 127

_RANK_BY_TYPE: dict[type, int] = {
    type(None): NULL,
    type(MISSING): NULL,
    bool: BOOL,
    int: NUMBER,
    Int64: NUMBER,
    float: NUMBER,
    Decimal128: NUMBER,
    str: STRING,
    dict: OBJECT,
    list: ARRAY,
    tuple: ARRAY,
    bytes: BINARY,
    Binary: BINARY,
    ObjectId: OBJECTID,
    datetime.datetime: DATE,
    Timestamp: TIMESTAMP,
    Regex: REGEX,
    re.Pattern: REGEX,
    MinKey: MINKEY,
    MaxKey: MAXKEY,
    DBRef: OBJECT,
}

_REGEX_FLAG_LETTERS = (
    (re.IGNORECASE, "i"),
    (re.LOCALE, "l"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.VERBOSE, "x"),
)

# NaN sorts below every other number and equals itself; real numbers carry a 1 first.
_NAN_KEY = (NUMBER, 0)

# An empty array as a sort key: MongoDB sorts it below null and missing.
EMPTY_ARRAY_KEY = (MINKEY + 1,)

# Keys of documents and arrays take 0.1 to 1.5 s a MB (as `approximate_size` counts it):
# one of 24 MB of shared parts took 18 to 34 s, a sort of 1,000 documents by a 47 KB
# value 22 s, in a reader thread past any deadline. So the job's time is checked every
# `_CHECKED_BYTES` of keys built, and a larger value's key is built part by part, checked
# every `_CHECK_PARTS` parts. A small document's key is built as before, counted.
_CHECKED_BYTES = 64 * 1024
_CHECK_PARTS = 16
# Bytes of keys built since the last check, by every thread: a race loses a count.
_unchecked = 0


def type_rank(value: Any) -> int:
    """MongoDB's canonical type rank of `value`; missing and null share a rank."""
    rank = _RANK_BY_TYPE.get(type(value))
    if rank is not None:
        return rank
    return _rank_by_isinstance(value)


def _rank_by_isinstance(value: Any) -> int:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Code):
        return CODE if value.scope is None else CODE_WITH_SCOPE
    if isinstance(value, (int, float, Decimal128, Decimal)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, (list, tuple)):
        return ARRAY
    if isinstance(value, bytes):
        return BINARY
    if isinstance(value, datetime.datetime):
        return DATE
    raise TypeError(f"not a BSON value: {type(value).__name__} {value!r}")


def regex_flags(value: Regex | re.Pattern) -> str:
    """The regex's options as MongoDB spells them, letters in alphabetical order."""
    flags = value.flags
    return "".join(letter for flag, letter in _REGEX_FLAG_LETTERS if flags & flag)


def sort_value(value: Any) -> tuple:
    """A tuple that Python orders, compares and hashes as MongoDB orders `value`.

    Numbers of every type compare by value (1 == 1.0 == Int64(1) == Decimal128("1")),
    booleans are not numbers, strings compare by code point (the same as UTF-8 bytes),
    documents compare field by field (type, then name, then value) and are
    field-order sensitive, arrays element by element.

    A document or array larger than any document may be is refused: a pipeline's values
    may share parts (a ``$reduce`` doubling ``{"b": "$$value", "c": "$$value"}``), and
    the key of one of terabytes was built, hashed and compared part by part, for days.
    """
    global _unchecked
    kind = value.__class__
    if kind is dict or kind is list:
        size = approximate_size(value)
        if size > _CHECKED_BYTES:
            return _large_key(value, size)
        _unchecked += size
        if _unchecked > _CHECKED_BYTES:
            _unchecked = 0
            deadlines.check()
    return _sort_value(value)


def _large_key(value: dict | list, size: int) -> tuple:
    """`_sort_value` of a large document or array: each part's key by `sort_value` (a
    large part is built in parts too), the job's time checked every few parts."""
    if size > 2 * INTERNAL_DOCUMENT_BYTES:
        raise value_error(size)
    if isinstance(value, list):
        return (ARRAY, tuple(sort_value(v) for v in deadlines.checked(value, _CHECK_PARTS)))
    items = deadlines.checked(value.items(), _CHECK_PARTS)
    return (OBJECT, tuple(_field_key(k, sort_value(v)) for k, v in items))


def _sort_value(value: Any) -> tuple:
    kind = type(value)
    if kind is str:
        return (STRING, value)
    if kind is int or kind is Int64:
        return (NUMBER, 1, int(value))
    if kind is float:
        if value != value:
            return _NAN_KEY
        return (NUMBER, 1, value)
    rank = type_rank(value)
    if rank == NULL:
        return (NULL,)
    if rank == NUMBER:
        return _number_key(value)
    if rank == OBJECT:
        if isinstance(value, DBRef):
            value = value.as_doc()
        return (OBJECT, tuple(_field_key(k, _sort_value(v)) for k, v in value.items()))
    if rank == ARRAY:
        return (ARRAY, tuple(_sort_value(v) for v in value))
    if rank in (STRING, CODE):
        return (rank, str(value))
    if rank == BOOL:
        return (BOOL, bool(value))
    if rank == OBJECTID:
        return (OBJECTID, value.binary)
    if rank == DATE:
        return (DATE, _naive_utc(value))
    if rank == BINARY:
        subtype = value.subtype if isinstance(value, Binary) else 0
        return (BINARY, len(value), subtype, bytes(value))
    if rank == TIMESTAMP:
        return (TIMESTAMP, value.time, value.inc)
    if rank == REGEX:
        return (REGEX, value.pattern, regex_flags(value))
    if rank == CODE_WITH_SCOPE:
        return (CODE_WITH_SCOPE, str(value), _sort_value(value.scope))
    return (rank,)  # MinKey, MaxKey


def _field_key(name: str, key: tuple) -> tuple:
    return (key[0], name, key)


def _number_key(value: Any) -> tuple:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal):
        if value.is_nan():
            return _NAN_KEY
        if value.is_finite() and value == value.to_integral_value():
            return (NUMBER, 1, int(value))
        return (NUMBER, 1, value)
    if isinstance(value, float):
        if math.isnan(value):
            return _NAN_KEY
        return (NUMBER, 1, float(value))
    return (NUMBER, 1, int(value))


def _naive_utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


def hash_key(value: Any) -> Hashable:
    """A hashable key: equal keys exactly when MongoDB calls the values equal."""
    return sort_value(value)


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as `a` sorts before, with, or after `b` in BSON order."""
    kind = a.__class__
    if kind is b.__class__ and (kind is str or kind is int):
        return (a > b) - (a < b)
    ka = sort_value(a)
    kb = sort_value(b)
    return (ka > kb) - (ka < kb)


def equal(a: Any, b: Any) -> bool:
    """MongoDB equality: 1 == 1.0 == Int64(1) but not True; documents are order-sensitive."""
    if type(a) is type(b) and type(a) is str:
        return a == b
    return sort_value(a) == sort_value(b)


def identical(a: Any, b: Any) -> bool:
    """True when `a` and `b` encode to the same BSON: same types, same field order."""
    if a.__class__ is not b.__class__:
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, float) and a == 0.0:
        return b == 0.0 and str(a) == str(b)
    return bool(a == b)


class SortKey:
    """A sort key over one BSON value; `reverse=True` inverts it for descending fields.

    Use a tuple of SortKeys to sort on several fields with mixed directions.
    """

    __slots__ = ("key", "reverse")

    def __init__(self, value: Any, reverse: bool = False) -> None:
        self.key = sort_value(value)
        self.reverse = reverse

    @classmethod
    def from_key(cls, key: tuple, reverse: bool = False) -> "SortKey":
        """A SortKey over a key `sort_value` already computed (or `EMPTY_ARRAY_KEY`)."""
        self = cls.__new__(cls)
        self.key = key
        self.reverse = reverse
        return self

    def __lt__(self, other: "SortKey") -> bool:
        if self.reverse:
            return other.key < self.key
        return self.key < other.key

    def __gt__(self, other: "SortKey") -> bool:
        return other.__lt__(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"SortKey({self.key!r}, reverse={self.reverse})"
