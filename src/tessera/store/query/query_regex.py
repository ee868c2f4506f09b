"""``$regex`` in filters: the pattern and its ``$options`` compiled once, and the test
that matches strings it finds and regular expression values equal to it."""

import re
from collections.abc import Callable
from typing import Any

from bson.regex import Regex
from pymongo.errors import OperationFailure

from tessera.store.query.patterns import Pattern, PatternError, compile_pattern
from tessera.store.values.ordering import regex_flags, sort_value

BAD_VALUE = 2


def _fail(message: str, code: int = BAD_VALUE) -> OperationFailure:
    return OperationFailure(message, code, {"ok": 0, "errmsg": message, "code": code})


_INVALID_REGEX = 51091
_OPTION_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


def is_regex(value: Any) -> bool:
    """True for a regular expression value (BSON regex or compiled Python pattern)."""
    return isinstance(value, (Regex, re.Pattern))


def compile_regex(pattern: Any, options: Any) -> Pattern:
    """The compiled pattern of a ``$regex`` value and its ``$options`` letters; its matches
    have a time limit (see `patterns`)."""
    if options is not None and not isinstance(options, str):
        raise _fail("$options has to be a string")
    if is_regex(pattern):
        if options and regex_flags(pattern):
            raise _fail("options set in both $regex and $options", 51075)
        letters = options or regex_flags(pattern)
        source = pattern.pattern
    elif isinstance(pattern, str):
        letters = options or ""
        source = pattern
    else:
        raise _fail("$regex has to be a string")
    flags = 0
    for letter in letters:
        if letter not in _OPTION_FLAGS:
            raise _fail(f"invalid flag in regex options: {letter}", 51108)
        flags |= _OPTION_FLAGS[letter]
    if not isinstance(source, str):
        raise _fail("$regex has to be a string")
    try:
        return compile_pattern(source, flags)
    except PatternError as exc:
        message = str(exc)
        if exc.code == _INVALID_REGEX:
            message = f"Regular expression is invalid: {message}"
        raise _fail(message, exc.code) from None


def regex_test(regex: Pattern) -> Callable[[Any], bool]:
    """A test matching strings the regex finds, and regex values equal to it."""
    search = regex.search
    key = regex.key

    def test(value: Any) -> bool:
        if value.__class__ is str:
            return search(value) is not None
        return is_regex(value) and sort_value(value) == key

    return test
