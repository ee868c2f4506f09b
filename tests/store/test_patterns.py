"""Regular expressions that cannot freeze the server: compiled with bounds, matched under a
time limit with the GIL released, and never on the event loop.

Tests taking `db` run on MongoDB too; those taking `embedded_db` or calling `patterns`
directly are embedded-only (the limits are the embedded store's own).
"""

import asyncio
import re
from typing import Any

import pytest
from bson.regex import Regex
from pymongo.errors import OperationFailure, WriteError

from tessera.store.query.patterns import (
    MATCH_SECONDS,
    MAX_EXPANSION,
    TIME_LIMIT_CODE,
    PatternError,
    compile_pattern,
    expansion,
    linear,
)

# Exponential backtracking for `regex` too (it handles ^(a+)+$ itself): 2^40 paths.
CATASTROPHIC = "^(a|aa)+$"
VICTIM = "a" * 40 + "b"


class Ticker:
    """Counts event-loop turns while running: a loop blocked by a match counts none."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.001)

    def __enter__(self) -> "Ticker":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._task is not None
        self._task.cancel()


def assert_time_limit(error: OperationFailure, operator: str = "$regex") -> None:
    assert error.code == TIME_LIMIT_CODE
    message = str(error)
    assert f"{MATCH_SECONDS} seconds" in message
    assert "simplify the pattern" in message
    assert operator in message


# The compile bound.


@pytest.mark.parametrize(
    ("source", "size"),
    [
        ("abc", 0),
        ("a{3}", 2),
        ("(?:a{3}b){4}", 17),
        ("a{0,9}", 0),
        ("a*b+c?", 0),
        ("[a{9}]", 0),
        (r"\{9999\}", 0),
        ("(?#{9999})a", 0),
        ("(?P<year>\\d{4})", 3),
        ("(a|bc){2}", 4),
    ],
)
def test_expansion_counts_the_copies_counted_repeats_force(source: str, size: int) -> None:
    assert expansion(source, verbose=False) == size


def test_expansion_stops_counting_past_the_limit() -> None:
    assert expansion("(?:(?:a{100}){100}){100}" * 1000, verbose=False) > MAX_EXPANSION


def test_a_verbose_comment_counts_only_where_it_may_not_be_one() -> None:
    assert expansion("a # {99999}\n", verbose=True) == 0
    compile_pattern("a # {99999}\n", re.VERBOSE)
    compile_pattern("(?x)a # {99999}\n")
    with pytest.raises(PatternError):
        compile_pattern("(?x)(?-x:#{99999})")  # there the comment is a literal #


@pytest.mark.parametrize(
    "source",
    [
        "(?:(?:a{100}){100}){100}",  # 0.4 s of compiling with the GIL held
        "((((a{100}){100}){100}){100})",  # 40 s and gigabytes
        "a{4294967294}",
        "(a){20000}",
    ],
)
def test_a_pattern_expanding_past_the_limit_is_refused_before_compiling(source: str) -> None:
    with pytest.raises(PatternError, match="regular expression is too large") as info:
        compile_pattern(source)
    assert info.value.code == 51091


@pytest.mark.parametrize(
    "source",
    [
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        r"\d{10000}",
        "(?:a{1,100}){1,100}",
        "^.{0,100000}$",
    ],
)
def test_ordinary_patterns_compile(source: str) -> None:
    compile_pattern(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("^ITEM 1", True),
        ("user [0-9]$", True),
        (r"[*+?{|]\*\p{L}", True),
        ("(?i)(?:ab)(?=c)(x)\\1", True),
        ("a*", False),
        (r"\d{4}", False),
        ("a|b", False),
        (CATASTROPHIC, False),
        ("(a)(?1)", False),
        ("(?R)", False),
        ("(?#a*)b", False),
    ],
)
def test_linear_patterns_are_told_apart(source: str, expected: bool) -> None:
    # A linear pattern cannot backtrack: on a short text it runs untimed, saving the
    # timeout's clock reads.
    assert linear(source) is expected


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("^cached", re.I) is compile_pattern("^cached", re.I)
    assert compile_pattern("^cached") is not compile_pattern("^cached", re.I)


def test_version_flags_of_the_regex_package_are_refused() -> None:
    with pytest.raises(PatternError, match="unrecognized character"):
        compile_pattern("(?V1)[[a-z]--[aeiou]]")


def test_a_match_past_the_limit_raises_the_time_limit_error() -> None:
    pattern = compile_pattern(CATASTROPHIC)
    with pytest.raises(OperationFailure) as info:
        pattern.search(VICTIM, operator="$regexMatch")
    assert_time_limit(info.value, "$regexMatch")


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        ("[0-9]+", "a1b22", [("1", 1), ("22", 3)]),
        ("a*", "baaac", [("", 0), ("aaa", 1), ("", 4)]),
        ("", "ab", [("", 0), ("", 1)]),
        ("x", "", []),
    ],
)
def test_find_all_walks_matches_as_mongodb_does(source: str, text: str, found: list) -> None:
    matches = compile_pattern(source).find_all(text, "$regexFindAll")
    assert [(m.group(), m.start()) for m in matches] == found


# Semantics: the same results as MongoDB's PCRE (these run on MongoDB too).


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"$regex": "^ab"}, [1, 2]),
        ({"$regex": "^AB", "$options": "i"}, [1, 2, 3]),
        ({"$regex": "b(?=c)"}, [1]),  # lookahead
        ({"$regex": "(?<!a)b"}, [4]),  # lookbehind
        ({"$regex": r"^(\w)\1"}, [5]),  # backreference
        ({"$regex": r"^a(?>b|bc)$"}, [2]),  # atomic group
        ({"$regex": r"^\p{Lu}"}, [3]),  # Unicode property
        ({"$in": [Regex("^xx"), Regex("^AB")]}, [3, 5]),
        ({"$nin": [Regex("^a")]}, [3, 4, 5]),
        ({"$not": Regex("b")}, [3, 5]),
        ({"$all": [Regex("^a"), Regex("c$")]}, [1]),
    ],
)
async def test_regex_features_and_operators(db: Any, condition: Any, expected: list) -> None:
    await db.s.insert_many(
        [
            {"_id": 1, "s": "abc"},
            {"_id": 2, "s": "ab"},
            {"_id": 3, "s": "ABd"},
            {"_id": 4, "s": "xb"},
            {"_id": 5, "s": "xxy"},
        ]
    )
    found = await db.s.find({"s": condition}).sort("_id", 1).to_list(None)
    assert [doc["_id"] for doc in found] == expected


async def test_a_pattern_over_mongodbs_length_limit_is_refused(db: Any) -> None:
    with pytest.raises(OperationFailure, match="Regular expression is too long") as info:
        await db.s.find_one({"s": {"$regex": "a" * 32765}})
    assert info.value.code == 2
    await db.s.find_one({"s": {"$regex": "a" * 32764}})


# Containment: a runaway match fails fast, and the event loop keeps turning meanwhile.


@pytest.mark.parametrize(
    ("where", "condition"),
    [
        ("$regex", {"$regex": CATASTROPHIC}),
        ("$regex", {"$regex": CATASTROPHIC, "$options": "i"}),
        ("$regex", Regex(CATASTROPHIC)),
        ("$regex", {"$in": ["x", Regex(CATASTROPHIC)]}),
        ("$regex", {"$nin": [Regex(CATASTROPHIC)]}),
        ("$regex", {"$not": Regex(CATASTROPHIC)}),
        ("$regex", {"$all": [Regex(CATASTROPHIC)]}),
        ("$regex", {"$elemMatch": {"$regex": CATASTROPHIC}}),
    ],
)
async def test_a_catastrophic_filter_fails_fast_while_the_loop_turns(
    embedded_db: Any, where: str, condition: Any
) -> None:
    await embedded_db.s.insert_one({"_id": 1, "s": VICTIM, "list": [VICTIM]})
    field = "list" if isinstance(condition, dict) and "$elemMatch" in condition else "s"
    with Ticker() as ticker, pytest.raises(OperationFailure) as info:
        await embedded_db.s.find_one({field: condition})
    assert_time_limit(info.value, where)
    # The match held no GIL: the loop turned about once a millisecond meanwhile (with `re`,
    # it turned once in 18 seconds).
    assert ticker.ticks >= 5


@pytest.mark.parametrize("operator", ["$regexMatch", "$regexFind", "$regexFindAll"])
async def test_a_catastrophic_expression_fails_fast(embedded_db: Any, operator: str) -> None:
    await embedded_db.s.insert_one({"_id": 1, "s": VICTIM})
    expression = {operator: {"input": "$s", "regex": CATASTROPHIC}}
    with Ticker() as ticker, pytest.raises(OperationFailure) as info:
        await embedded_db.s.aggregate([{"$project": {"m": expression}}]).to_list(None)
    assert_time_limit(info.value, operator)
    assert ticker.ticks >= 5


async def test_a_catastrophic_expr_filter_fails_fast(embedded_db: Any) -> None:
    await embedded_db.s.insert_one({"_id": 1, "s": VICTIM})
    condition = {"$regexMatch": {"input": "$s", "regex": CATASTROPHIC}}
    with Ticker() as ticker, pytest.raises(OperationFailure) as info:
        await embedded_db.s.find_one({"$expr": condition})
    assert_time_limit(info.value, "$regexMatch")
    assert ticker.ticks >= 5


async def test_writes_fail_fast_on_a_catastrophic_pattern(embedded_db: Any) -> None:
    await embedded_db.s.insert_one({"_id": 1, "s": VICTIM, "list": [VICTIM]})
    with pytest.raises(OperationFailure) as info:
        await embedded_db.s.update_one({"s": {"$regex": CATASTROPHIC}}, {"$set": {"x": 1}})
    assert info.value.code == TIME_LIMIT_CODE
    with pytest.raises(WriteError) as written:
        await embedded_db.s.update_one({"_id": 1}, {"$pull": {"list": Regex(CATASTROPHIC)}})
    assert written.value.code == TIME_LIMIT_CODE
    assert await embedded_db.s.find_one({"_id": 1}) == {"_id": 1, "s": VICTIM, "list": [VICTIM]}


async def test_an_ordinary_read_completes_before_a_runaway_one(embedded_db: Any) -> None:
    await embedded_db.s.insert_one({"_id": 1, "s": VICTIM})
    await embedded_db.other.insert_many([{"n": i} for i in range(10)])
    runaway = asyncio.ensure_future(embedded_db.s.find_one({"s": {"$regex": CATASTROPHIC}}))
    await asyncio.sleep(0)  # queued for a reader thread
    assert len(await embedded_db.other.find({"n": {"$gte": 0}}).to_list(None)) == 10
    assert await embedded_db.other.count_documents({"n": {"$lt": 5}}) == 5
    assert not runaway.done()
    with pytest.raises(OperationFailure):
        await runaway


async def test_short_reads_that_match_patterns_leave_the_event_loop(embedded_db: Any) -> None:
    # A point read (unique index) and an _id lookup run inline, on the loop, unless they
    # would match a pattern: then they go to a reader thread, and the loop keeps turning.
    await embedded_db.s.create_index("k", unique=True)
    await embedded_db.s.insert_one({"_id": 1, "k": 1, "s": VICTIM, "list": [VICTIM]})
    reads = [
        embedded_db.s.find_one({"k": 1, "s": {"$regex": CATASTROPHIC}}),
        embedded_db.s.count_documents({"k": 1, "s": {"$regex": CATASTROPHIC}}),
        embedded_db.s.find_one(
            {"k": 1, "$expr": {"$regexMatch": {"input": "$s", "regex": CATASTROPHIC}}}
        ),
        embedded_db.s.find_one({"_id": 1}, {"list": {"$elemMatch": {"$regex": CATASTROPHIC}}}),
        embedded_db.s.find_one_and_update(
            {"_id": 1},
            {"$set": {"x": 1}},
            projection={"list": {"$elemMatch": {"$regex": CATASTROPHIC}}},
        ),
    ]
    for read in reads:
        with Ticker() as ticker, pytest.raises(OperationFailure) as info:
            await read
        assert info.value.code == TIME_LIMIT_CODE
        assert ticker.ticks >= 5


async def test_a_pattern_too_large_to_compile_is_refused(embedded_db: Any) -> None:
    # Compiling it would hold the GIL for 40 s: it is refused without compiling.
    with pytest.raises(OperationFailure) as info:
        await embedded_db.s.find_one({"s": {"$regex": "((((a{100}){100}){100}){100})"}})
    assert info.value.code == 51091
    assert "regular expression is too large" in str(info.value)
    await embedded_db.s.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        await embedded_db.s.aggregate(
            [{"$match": {"$expr": {"$regexMatch": {"input": "x", "regex": "(a){99999}"}}}}]
        ).to_list(None)
    assert info.value.code == 51111


async def test_a_read_stopped_by_the_limit_leaves_no_stale_snapshot(embedded_db: Any) -> None:
    await embedded_db.s.insert_many([{"s": "x"}, {"s": VICTIM}, {"s": "y"}])
    for _ in range(4):  # on both reader threads
        with pytest.raises(OperationFailure):
            await embedded_db.s.find({"s": {"$regex": CATASTROPHIC}}).to_list(None)
    await embedded_db.s.insert_one({"s": "new"})
    await embedded_db.s.create_index("s")
    for _ in range(4):
        assert await embedded_db.s.count_documents({"s": {"$exists": True}}) == 4
        assert len(await embedded_db.s.find({"s": {"$gt": ""}}).sort("s", 1).to_list(None)) == 4
