"""Regular expressions from clients, compiled once and matched under a time limit.

Every pattern the store evaluates comes from a client: query ``$regex`` and regex
values, ``$in``/``$nin``/``$not``/``$all`` entries, ``$pull``, ``$elemMatch``
projections and ``$regexMatch``/``$regexFind``/``$regexFindAll``. Python's `re` holds the
GIL for a whole match and cannot be stopped, so one catastrophic pattern (``^(a+)+$``
against 28 characters) froze the whole server for seconds per character.

Patterns are compiled here with the `regex` package (mrab-regex: `re`'s syntax and
semantics, plus PCRE features MongoDB has, such as possessive quantifiers and ``\\p{..}``)
and matched with ``concurrent=True``, which releases the GIL while matching, and a
timeout, which ends a match at `MATCH_SECONDS`; the operation then fails with
`TIME_LIMIT_CODE`.

Compiling is bounded too: `regex` expands counted repeats in C while holding the GIL
(``(?:(?:a{100}){100}){100}`` took 0.4 s, one level more 40 s and gigabytes), so a
pattern whose repeats would expand past `MAX_EXPANSION` items is refused unseen, as PCRE
(MongoDB's engine) refuses a pattern whose compiled form is too large. Parsing runs in
Python, which lets other threads in: up to 0.25 s for a pattern of MongoDB's greatest
length, once, as compiled patterns are cached. A filter may hold hundreds of patterns (a
sandboxed worker's operation, 16,384 values), so the job's time limit is checked before
each: a reader thread compiled them all long after the caller's 504.
"""

import functools
import re
from collections.abc import Iterator
from typing import Any

import regex
from bson.regex import Regex
from pymongo.errors import OperationFailure

from tessera.store.bounds import deadlines
from tessera.store.values.ordering import sort_value

__all__ = [
    "MATCH_SECONDS",
    "MAX_EXPANSION",
    "MAX_PATTERN_LENGTH",
    "TIME_LIMIT_CODE",
    "Pattern",
    "PatternError",
    "compile_pattern",
    "expansion",
    "linear",
    "time_limit_error",
]

# Long enough for any sane pattern over the largest string a document holds (a 16 MB
# scan takes about 10 ms), short enough that a runaway match costs one thread a tenth of
# a second. `regex` counts it in process CPU time, so it only comes sooner under load.
MATCH_SECONDS = 0.1
# MongoDB's own limit (RegexMatchExpression::kMaxPatternSize).
MAX_PATTERN_LENGTH = 32764
# Items compiling may make when counted repeats are expanded: about 1 µs each in C with
# the GIL held, so at most ~10 ms. ``\d{10000}`` still compiles; ``(?:a{1000}){1000}``
# does not.
MAX_EXPANSION = 10_000
# MongoDB's code when PCRE gives up on a match (its match limit), as ``$regexFind`` reports
# it: "Error occurred while executing the regular expression". A client that handles
# MongoDB's errors sees the same code; MaxTimeMSExpired (50) would invite a retry.
TIME_LIMIT_CODE = 51156

_TOO_LONG_CODE = 2  # BadValue, as MongoDB refuses a pattern over its length limit
_INVALID_CODE = 51091
_CACHE_SIZE = 512  # as many as `re` keeps
# Inline flag groups such as (?x) or (?i-x: : x makes whitespace and # comments
# insignificant, V0/V1 switch `regex` to another syntax.
_INLINE_FLAGS = re.compile(r"\(\?[a-zA-Z0-9^-]*[:)]")
_COUNT = re.compile(r"\{(\d*)(,\d*)?\}")
# What follows an opening parenthesis before the group's body: (?:  (?<name>  (?i:  ...
_GROUP_OPENING = re.compile(r"\((?:\?(?:P?<\w+>|'\w+'|<[=!]|[=!>|]|[a-zA-Z^-]*:?))?")
_KEPT_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE
_BRACED_ESCAPES = frozenset("pPNxgku")
# Escapes and character classes, each of which matches one character at most.
_ATOMS = re.compile(r"\\[pPNxgku]\{[^}]*\}|\\.|\[\^?\]?(?:\[:\w+:\]|\\.|[^\]])*\]", re.DOTALL)
# Recursion and subroutine calls: (?R) (?1) (?-1) (?&name) (?P>name).
_CALLS = re.compile(r"\(\?(?:R|[+-]?\d|&|P>)")
# A match of a linear pattern tries at most its length of steps at each position (about
# 17 ns each at worst, measured with groups): past this many, the timed path is taken.
_UNTIMED_STEPS = 1_000_000


class PatternError(ValueError):
    """A pattern the store refuses; `code` is MongoDB's for a query ``$regex``."""

    def __init__(self, message: str, code: int = _INVALID_CODE) -> None:
        super().__init__(message)
        self.code = code


class Pattern:
    """A compiled pattern whose matches stop at `MATCH_SECONDS`.

    `source` and `flags` (`re`'s flag bits) are the pattern as given; `key` is the sort
    key of the equivalent BSON regex, for comparing with stored regex values.
    """

    __slots__ = ("_compiled", "_untimed", "flags", "key", "source")

    def __init__(self, source: str, flags: int) -> None:
        self.source = source
        self.flags = flags
        self.key = sort_value(Regex(source, flags))
        self._compiled = regex.compile(source, flags)
        # The longest text a match may run on untimed, finishing well inside the limit.
        self._untimed = _UNTIMED_STEPS // max(len(source), 1) if linear(source) else -1

    def search(self, text: str, pos: int = 0, operator: str = "$regex") -> Any:
        """The first match in `text` from `pos` on, or None; OperationFailure past the limit.

        A linear pattern on a short text is matched untimed: it cannot reach the limit,
        and the timeout's clock costs two system calls (2 µs) a match.
        """
        if len(text) <= self._untimed:
            return self._compiled.search(text, pos, concurrent=True)
        try:
            return self._compiled.search(text, pos, concurrent=True, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise time_limit_error(operator) from None

    def find_all(self, text: str, operator: str) -> Iterator[Any]:
        """Every match, as MongoDB's ``$regexFindAll`` walks them: after an empty match
        the next search starts one character on, after another at its end. Each search
        has its own time limit."""
        pos = 0
        while True:
            match = self.search(text, pos, operator)
            if match is None:
                return
            yield match
            start, end = match.span()
            if start == end:
                if start >= len(text):
                    return
                end = start + 1
            pos = end
            if pos >= len(text):
                return


def time_limit_error(operator: str) -> OperationFailure:
    """The failure of a match that ran past `MATCH_SECONDS`."""
    message = (
        f"Error occurred while executing the regular expression in {operator}: a match ran "
        f"past the limit of {MATCH_SECONDS} seconds for one match; simplify the pattern "
        "(nested or adjacent quantifiers such as (a+)+ or (a|aa)+ backtrack exponentially)"
    )
    details = {"ok": 0.0, "errmsg": message, "code": TIME_LIMIT_CODE}
    return OperationFailure(message, TIME_LIMIT_CODE, details)


def compile_pattern(source: str, flags: int = 0) -> Pattern:
    """`source` compiled with `re`'s `flags` bits (IGNORECASE, MULTILINE, DOTALL, VERBOSE),
    from a cache; PatternError for a pattern that is invalid, too long or too large."""
    return _compile(source, flags & _KEPT_FLAGS)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(source: str, flags: int) -> Pattern:
    deadlines.check()  # a filter may hold hundreds of patterns, at up to 0.1 s each
    if len(source) > MAX_PATTERN_LENGTH:
        raise PatternError("Regular expression is too long", _TOO_LONG_CODE)
    if "\0" in source:
        raise PatternError("Regular expression cannot contain an embedded null byte", 2)
    size = max(expansion(source, verbose) for verbose in _readings(source, flags))
    if size > MAX_EXPANSION:
        raise PatternError(
            f"regular expression is too large: its counted repeats expand to {size} items "
            f"(the limit is {MAX_EXPANSION}); use smaller counts or fewer nested repeats"
        )
    try:
        return Pattern(source, flags)
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise PatternError(str(exc) or type(exc).__name__) from None


def _readings(source: str, flags: int) -> tuple[bool, ...]:
    """Whether to count `source` as verbose, as not, or both when parts of it may be."""
    inline = [group for group in _INLINE_FLAGS.findall(source) if "x" in group or "V" in group]
    if any("V" in group for group in inline):
        raise PatternError("unrecognized character after (? or (?-")  # PCRE refuses it too
    if not inline:
        return (True,) if flags & re.VERBOSE else (False,)
    whole = len(inline) == 1 and source.startswith(inline[0]) and inline[0].endswith(")")
    if whole and "-" not in inline[0]:
        return (True,)
    return (False, True)


def expansion(source: str, verbose: bool) -> int:
    """An upper bound of the items that counted repeats add when `regex` compiles
    `source`: each atom and group counts once per copy the minimums of its enclosing
    repeats force, less the one it is anyway (``a{3}`` adds 2, ``(?:a{3}b){4}`` 17;
    ``a{0,9}``, ``a*`` and ``abc`` none)."""
    frames = [[0, 0]]  # per open group: [items so far, items of its last item]
    plain = 0  # items counted once each
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        frame = frames[-1]
        if char == "{" and (count := _COUNT.match(source, i)) and (count[1] or count[2]):
            times = max(int(count[1] or 0), 1)
            frame[0] += frame[1] * (times - 1)
            frame[1] *= times
            i = count.end()
        elif char == "(":
            if source.startswith("(?#", i):
                i = _skip_to(source, i, ")")
            else:
                frames.append([0, 0])
                opening = _GROUP_OPENING.match(source, i)
                i = opening.end() if opening else i + 1
        elif char == ")":
            if len(frames) > 1:
                inner = frames.pop()[0] + 1
                plain += 1
                frames[-1][0] += inner
                frames[-1][1] = inner
            i += 1
        elif char == "|":
            frame[1] = 0
            i += 1
        elif char in "*+?" or (verbose and char in " \t\n\r\f\v"):
            i += 1
        elif verbose and char == "#":
            i = _skip_to(source, i, "\n")
        else:
            i = _skip_atom(source, i)
            plain += 1
            frame[0] += 1
            frame[1] = 1
        if frame[0] - plain > MAX_EXPANSION:
            return frame[0] - plain
    return sum(frame[0] for frame in frames) - plain


def linear(source: str) -> bool:
    """Whether `source` cannot backtrack: without quantifiers, alternation or recursion
    (outside escapes and classes), a match tries at most its length of steps at each
    position of the text."""
    bare = _ATOMS.sub("a", source)
    if _CALLS.search(bare):
        return False
    bare = _GROUP_OPENING.sub("(", bare)
    return not any(char in bare for char in "*+?{|")


def _skip_atom(source: str, i: int) -> int:
    """The index after the atom at `i`: a character, an escape or a character class."""
    char = source[i]
    if char == "\\":
        i += 2
        if source[i - 1 : i] in _BRACED_ESCAPES and source[i : i + 1] in ("{", "<"):
            i = _skip_to(source, i, "}" if source[i] == "{" else ">")
        return i
    if char != "[":
        return i + 1
    i += 1
    if source[i : i + 1] == "^":
        i += 1
    if source[i : i + 1] == "]":
        i += 1  # a leading ] is a member, not the end
    while i < len(source) and source[i] != "]":
        if source[i] == "\\":
            i += 2
        elif source.startswith("[:", i) and ":]" in source[i + 2 :]:
            i = source.index(":]", i + 2) + 2
        else:
            i += 1
    return i + 1


def _skip_to(source: str, i: int, end: str) -> int:
    found = source.find(end, i + 1)
    return len(source) if found < 0 else found + 1
