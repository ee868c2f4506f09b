"""The unified format's matching rules, as the conformance runner applies them."""

import datetime
import re
from typing import Any

import pytest
from bson import Int64, ObjectId, Regex

from .matching import MISSING, Mismatch, match, match_each, match_exact

OID = ObjectId("5f0000000000000000000001")
WHEN = datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)

MATCHES: list[tuple[Any, Any]] = [
    ({"x": 1}, {"x": 1, "y": 2}),  # a root document may hold more fields
    ({"x": 1, "y": 1}, {"y": 1, "x": 1}),  # key order is free
    ({"n": 1}, {"n": 1.0}),  # numbers compare by value across types
    ({"n": 1}, {"n": Int64(1)}),
    ({"n": 2.0}, {"n": 2}),
    ({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]}),
    ({"id": OID, "at": WHEN}, {"id": OID, "at": WHEN}),
    ({"r": Regex("^a", "i")}, {"r": re.compile("^a", re.IGNORECASE)}),
    ({"x": {"$$unsetOrMatches": 1}}, {}),
    ({"x": {"$$unsetOrMatches": 1}}, {"x": 1}),
    ({"$$unsetOrMatches": {"n": 1}}, {"n": 1, "extra": True}),
    ({"x": {"$$exists": True}}, {"x": None}),
    ({"x": {"$$exists": False}}, {"y": 1}),
    ({"x": {"$$type": "objectId"}}, {"x": OID}),
    ({"x": {"$$type": ["int", "long"]}}, {"x": Int64(5)}),
    ({"x": {"$$type": "int"}}, {"x": 5}),
    ({"x": {"$$type": "long"}}, {"x": 2**40}),
    ({"x": {"$$type": "array"}}, {"x": ["not", "checked", "per", "element"]}),
    ({"x": {"$$type": "date"}}, {"x": WHEN}),
    ({"x": {"$$lte": 5}}, {"x": 5.0}),
    (None, None),
    (3, 3.0),
]

MISMATCHES: list[tuple[Any, Any]] = [
    ({"x": {"y": 1}}, {"x": {"y": 1, "z": 1}}),  # no extra fields below the root
    ({"x": 1, "y": 1}, {"x": 1}),
    ({"n": 1}, {"n": True}),  # a boolean is not a number
    ({"b": True}, {"b": 1}),
    ({"n": 1}, {"n": 1.5}),
    ({"s": "1"}, {"s": 1}),
    ({"id": OID}, {"id": str(OID)}),
    ({"a": [1, 2, 3]}, {"a": [1, 2, 3, 4]}),  # arrays have the same length
    ({"a": [1, 2]}, {"a": [2, 1]}),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}),  # a nested array holds no root documents
    ({"x": {"$$unsetOrMatches": 1}}, {"x": 2}),
    ({"x": {"$$unsetOrMatches": {"y": 1}}}, {"x": {"y": 1, "z": 2}}),
    ({"x": {"$$exists": True}}, {}),
    ({"x": {"$$exists": False}}, {"x": None}),
    ({"x": {"$$type": "int"}}, {"x": 1.0}),
    ({"x": {"$$type": "int"}}, {}),
    ({"x": {"$$type": "string"}}, {"x": ["a"]}),
    ({"x": {"$$lte": 5}}, {"x": 6}),
    ({"x": None}, {}),  # null expected, field missing
    ({"x": 1}, [1]),
    ([1], {"0": 1}),
]


@pytest.mark.parametrize(("expected", "actual"), MATCHES)
def test_matches(expected: Any, actual: Any) -> None:
    match(expected, actual)


@pytest.mark.parametrize(("expected", "actual"), MISMATCHES)
def test_mismatches(expected: Any, actual: Any) -> None:
    with pytest.raises(Mismatch):
        match(expected, actual)


def test_mismatch_names_the_path() -> None:
    with pytest.raises(Mismatch, match=r"result\.a\[1\]\.b"):
        match({"a": [{"b": 1}, {"b": 2}]}, {"a": [{"b": 1}, {"b": 3}]})


def test_iterable_results_hold_root_documents() -> None:
    match_each([{"x": 1}, {"x": 2}], [{"x": 1, "y": 1}, {"x": 2, "y": 2}])
    with pytest.raises(Mismatch):
        match_each([{"x": 1}], [{"x": 1}, {"x": 2}])
    with pytest.raises(Mismatch):
        match_each([{"x": 1}], [{"x": 2, "y": 2}])


def test_distinct_results_are_not_root_documents() -> None:
    with pytest.raises(Mismatch):
        match([{"x": 1}], [{"x": 1, "y": 1}])


def test_matches_entity() -> None:
    match({"_id": {"$$matchesEntity": "id0"}}, {"_id": OID}, entities={"id0": OID})
    with pytest.raises(Mismatch):
        match({"_id": {"$$matchesEntity": "id0"}}, {"_id": 2}, entities={"id0": OID})


def test_unknown_special_operator_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match=r"\$\$sessionLsid"):
        match({"lsid": {"$$sessionLsid": "session0"}}, {"lsid": {}})


def test_missing_marker_is_never_a_value() -> None:
    with pytest.raises(Mismatch):
        match(None, MISSING)


def test_exact_match_of_outcomes() -> None:
    match_exact([{"_id": 1, "a": {"b": 1}}], [{"a": {"b": 1.0}, "_id": Int64(1)}])
    with pytest.raises(Mismatch):
        match_exact([{"_id": 1}], [{"_id": 1, "x": 1}])  # no extra field, even at the root
    with pytest.raises(Mismatch):
        match_exact([{"_id": 1, "x": 1}], [{"_id": 1}])
    with pytest.raises(Mismatch):
        match_exact([{"_id": 1}, {"_id": 2}], [{"_id": 2}, {"_id": 1}])
    with pytest.raises(Mismatch):
        match_exact([{"_id": 1, "x": {"$$exists": False}}], [{"_id": 1}])  # no operators
