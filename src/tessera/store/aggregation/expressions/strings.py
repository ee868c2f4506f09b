"""String operators: case, substrings, search, trimming, regex, replacing."""

import datetime
import re
from collections.abc import Callable
from typing import Any

from bson.regex import Regex
from bson.timestamp import Timestamp

from tessera.store.aggregation.expressions.conversion import to_string
from tessera.store.aggregation.expressions.core import (
    Scope,
    failure,
    integer_arg,
    is_number,
    named_args,
    nullish,
    operator,
    special,
    type_name,
)
from tessera.store.bounds.limits import approximate_size, check_made_string
from tessera.store.query.patterns import Pattern, PatternError, compile_pattern
from tessera.store.values.ordering import regex_flags

# MongoDB's default $trim set: the null byte, ASCII whitespace and Unicode spaces.
_WHITESPACE = (
    "\0\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _coerce_string(value: Any) -> str:
    """The string form MongoDB's string operators accept: null is empty, numbers print."""
    if nullish(value):
        return ""
    if isinstance(value, str):
        return value
    if is_number(value) or isinstance(value, (datetime.datetime, Timestamp)):
        return to_string(value)
    raise failure(16007, f"can't convert from BSON type {type_name(value)} to String")


@operator("$concat")
def _concat(*values: Any) -> Any:
    if any(nullish(v) for v in values):
        return None
    for v in values:
        if not isinstance(v, str):
            raise failure(16702, f"$concat only supports strings, not {type_name(v)}")
    check_made_string("$concat", sum(map(len, values)))
    return "".join(values)


@operator("$toLower", 1)
def _to_lower(value: Any) -> str:
    return _coerce_string(value).lower()


@operator("$toUpper", 1)
def _to_upper(value: Any) -> str:
    return _coerce_string(value).upper()


@operator("$strcasecmp", 2)
def _strcasecmp(a: Any, b: Any) -> int:
    x = _coerce_string(a).upper()
    y = _coerce_string(b).upper()
    return (x > y) - (x < y)


def _substr_bytes(name: str, value: Any, start: Any, length: Any) -> str:
    data = _coerce_string(value).encode()
    begin = integer_arg(name, "starting index", start, 16034)
    count = integer_arg(name, "length", length, 16035)
    if begin < 0:
        raise failure(50752, f"{name}: starting index must be non-negative, found {begin}")
    if begin >= len(data):
        return ""
    end = len(data) if count < 0 else min(len(data), begin + count)
    if begin < len(data) and data[begin] & 0xC0 == 0x80:
        raise failure(28656, f"{name}: Invalid range, starting index is a UTF-8 continuation byte.")
    if end < len(data) and data[end] & 0xC0 == 0x80:
        raise failure(
            28657, f"{name}: Invalid range, ending index is in the middle of a UTF-8 character."
        )
    return data[begin:end].decode()


@operator("$substrBytes", 3)
def _substr_bytes_op(value: Any, start: Any, length: Any) -> str:
    return _substr_bytes("$substrBytes", value, start, length)


@operator("$substr", 3)
def _substr(value: Any, start: Any, length: Any) -> str:
    return _substr_bytes("$substr", value, start, length)


@operator("$substrCP", 3)
def _substr_cp(value: Any, index: Any, count: Any) -> str:
    text = _coerce_string(value)
    begin = integer_arg("$substrCP", "starting index", index, 34452)
    size = integer_arg("$substrCP", "length", count, 34454)
    if begin < 0:
        raise failure(34455, f"$substrCP: starting index must be non-negative, found {begin}")
    if size < 0:
        raise failure(34456, f"$substrCP: length must be a nonnegative integer, found {size}")
    return text[begin : begin + size]


@operator("$strLenCP", 1)
def _str_len_cp(value: Any) -> int:
    if not isinstance(value, str):
        raise failure(34471, f"$strLenCP requires a string argument, found: {type_name(value)}")
    return len(value)


@operator("$strLenBytes", 1)
def _str_len_bytes(value: Any) -> int:
    if not isinstance(value, str):
        raise failure(34473, f"$strLenBytes requires a string argument, found: {type_name(value)}")
    return len(value.encode())


@operator("$split", 2)
def _split(value: Any, delimiter: Any) -> Any:
    if nullish(value) or nullish(delimiter):
        return None
    if not isinstance(value, str):
        raise failure(
            40085,
            "$split requires an expression that evaluates to a string as a first argument, "
            f"found: {type_name(value)}",
        )
    if not isinstance(delimiter, str):
        raise failure(
            40086,
            "$split requires an expression that evaluates to a string as a second argument, "
            f"found: {type_name(delimiter)}",
        )
    if not delimiter:
        raise failure(40087, "$split requires a non-empty separator")
    return value.split(delimiter)


def _trimmer(name: str, strip: Callable[[str, str], str]) -> None:
    @special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = named_args(name, raw, ("input",), ("chars",))
        value = scope.eval(spec["input"])
        chars = scope.eval(spec["chars"]) if "chars" in spec else _WHITESPACE
        if nullish(value) or nullish(chars):
            return None
        if not isinstance(value, str):
            raise failure(
                50699, f"{name} requires its input to be a string, got {type_name(value)}"
            )
        if not isinstance(chars, str):
            raise failure(50700, f"{name} requires 'chars' to be a string, got {type_name(chars)}")
        return strip(value, chars)


_trimmer("$trim", str.strip)
_trimmer("$ltrim", str.lstrip)
_trimmer("$rtrim", str.rstrip)


def search_range(name: str, bounds: tuple[Any, ...], size: int) -> tuple[int, int]:
    """The [start, end) window of an $indexOf* search from its optional index arguments."""
    window = [0, size]
    for i, bound in enumerate(bounds):
        position = integer_arg(name, "starting index" if i == 0 else "ending index", bound, 40096)
        if position < 0:
            raise failure(40097, f"{name} requires a nonnegative index, found: {position}")
        window[i] = position
    return window[0], window[1]


def _check_search_strings(name: str, haystack: Any, needle: Any) -> None:
    if not isinstance(haystack, str):
        message = f"{name} requires a string as the first argument, found: {type_name(haystack)}"
        raise failure(40091, message)
    if not isinstance(needle, str):
        message = f"{name} requires a string as the second argument, found: {type_name(needle)}"
        raise failure(40092, message)


@operator("$indexOfCP", (2, 4))
def _index_of_cp(haystack: Any, needle: Any, *bounds: Any) -> Any:
    if nullish(haystack):
        return None
    _check_search_strings("$indexOfCP", haystack, needle)
    start, end = search_range("$indexOfCP", bounds, len(haystack))
    return haystack.find(needle, start, end) if start <= end else -1


@operator("$indexOfBytes", (2, 4))
def _index_of_bytes(haystack: Any, needle: Any, *bounds: Any) -> Any:
    if nullish(haystack):
        return None
    _check_search_strings("$indexOfBytes", haystack, needle)
    data = haystack.encode()
    start, end = search_range("$indexOfBytes", bounds, len(data))
    return data.find(needle.encode(), start, end) if start <= end else -1


_REGEX_OPTION_FLAGS = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "u": 0,
}
# $regexFindAll's output, as MongoDB bounds it (BufferMaxSize).
_FIND_ALL_BYTES = 64 * 1024 * 1024


def _regex_input(name: str, raw: Any, scope: Scope) -> tuple[str | None, Pattern | None]:
    spec = named_args(name, raw, ("input", "regex"), ("options",))
    value = scope.eval(spec["input"])
    regex = scope.eval(spec["regex"])
    options = scope.eval(spec.get("options", ""))
    if not nullish(value) and not isinstance(value, str):
        raise failure(51104, f"{name} needs 'input' to be of type string")
    if isinstance(regex, (Regex, re.Pattern)):
        if options:
            raise failure(
                51075,
                f"{name}: regex options cannot be specified in both BSON regex and 'options' field",
            )
        pattern, letters = regex.pattern, regex_flags(regex)
    elif isinstance(regex, str):
        pattern, letters = regex, ""
    elif nullish(regex):
        return None, None
    else:
        raise failure(51105, f"{name} needs 'regex' to be of type string or regex")
    flags = 0
    for letter in letters + (options or ""):
        if letter not in _REGEX_OPTION_FLAGS:
            raise failure(51108, f"{name} invalid flag in regex options: {letter}")
        flags |= _REGEX_OPTION_FLAGS[letter]
    if not isinstance(pattern, str):
        raise failure(51105, f"{name} needs 'regex' to be of type string or regex")
    try:
        compiled = compile_pattern(pattern, flags)
    except PatternError as error:
        raise failure(51111, f"Invalid Regex in {name}: {error}") from None
    return (None if nullish(value) else value), compiled


def _match_document(match: Any) -> dict[str, Any]:
    return {"match": match.group(0), "idx": match.start(), "captures": list(match.groups())}


@special("$regexMatch")
def _regex_match(raw: Any, scope: Scope) -> bool:
    value, pattern = _regex_input("$regexMatch", raw, scope)
    if value is None or pattern is None:
        return False
    return pattern.search(value, operator="$regexMatch") is not None


@special("$regexFind")
def _regex_find(raw: Any, scope: Scope) -> Any:
    value, pattern = _regex_input("$regexFind", raw, scope)
    if value is None or pattern is None:
        return None
    match = pattern.search(value, operator="$regexFind")
    return _match_document(match) if match else None


@special("$regexFindAll")
def _regex_find_all(raw: Any, scope: Scope) -> list[Any]:
    value, pattern = _regex_input("$regexFindAll", raw, scope)
    if value is None or pattern is None:
        return []
    found = []
    used = 0
    for match in pattern.find_all(value, "$regexFindAll"):
        document = _match_document(match)
        used += approximate_size(document)
        if used > _FIND_ALL_BYTES:
            raise failure(
                51151, "$regexFindAll: the size of buffer to store output exceeded the 64MB limit"
            )
        found.append(document)
    return found


def _replacer(name: str, count: int) -> None:
    @special(name)
    def op(raw: Any, scope: Scope) -> Any:
        spec = named_args(name, raw, ("input", "find", "replacement"))
        values = [scope.eval(spec[k]) for k in ("input", "find", "replacement")]
        for key, value in zip(("input", "find", "replacement"), values, strict=True):
            if not nullish(value) and not isinstance(value, str):
                raise failure(
                    51746, f"{name} requires that '{key}' be a string, found: {type_name(value)}"
                )
        if any(nullish(v) for v in values):
            return None
        text, old, new = values
        found = text.count(old) if count < 0 else min(count, text.count(old))
        check_made_string(name, len(text) + found * (len(new) - len(old)))
        return text.replace(old, new, count)


_replacer("$replaceOne", 1)
_replacer("$replaceAll", -1)
