"""find() projections, from MongoDB's "Project Fields to Return from Query" documentation."""

import pytest
from pymongo.errors import OperationFailure

from tessera.store.query.projection import compile_projection

DOC = {
    "_id": 1,
    "item": "journal",
    "status": "A",
    "size": {"h": 14, "w": 21, "uom": "cm"},
    "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}, "loose"],
    "tags": ["a", "b", "c", "d", "e"],
}


@pytest.mark.parametrize(
    ("projection", "expected"),
    [
        ({"item": 1, "status": 1}, {"_id": 1, "item": "journal", "status": "A"}),
        ({"status": 1, "item": 1}, {"_id": 1, "item": "journal", "status": "A"}),
        (["status", "item"], {"_id": 1, "item": "journal", "status": "A"}),
        ({"item": 1, "_id": 0}, {"item": "journal"}),
        ({"item": True}, {"_id": 1, "item": "journal"}),
        ({"_id": 1}, {"_id": 1}),
        ({"missing": 1}, {"_id": 1}),
        ({"size.uom": 1}, {"_id": 1, "size": {"uom": "cm"}}),
        ({"size.nothing": 1}, {"_id": 1, "size": {}}),
        ({"item.x": 1}, {"_id": 1}),
        ({"tags.x": 1}, {"_id": 1, "tags": []}),
        (
            {"instock.qty": 1},
            {"_id": 1, "instock": [{"qty": 5}, {"qty": 15}]},
        ),
        (
            {"status": 0, "instock": 0, "tags": 0},
            {"_id": 1, "item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}},
        ),
        (
            {"size.uom": 0, "instock.qty": 0, "tags": 0, "_id": 0},
            {
                "item": "journal",
                "status": "A",
                "size": {"h": 14, "w": 21},
                "instock": [{"warehouse": "A"}, {"warehouse": "C"}, "loose"],
            },
        ),
        ({"tags": {"$slice": 2}, "item": 1}, {"_id": 1, "item": "journal", "tags": ["a", "b"]}),
        ({"tags": {"$slice": -2}, "_id": 0, "item": 1}, {"item": "journal", "tags": ["d", "e"]}),
        (
            {"tags": {"$slice": [1, 2]}, "item": 1},
            {"_id": 1, "item": "journal", "tags": ["b", "c"]},
        ),
        (
            {"tags": {"$slice": [-2, 5]}, "item": 1},
            {"_id": 1, "item": "journal", "tags": ["d", "e"]},
        ),
        ({"tags": {"$slice": [9, 1]}, "item": 1}, {"_id": 1, "item": "journal", "tags": []}),
        ({"item": {"$slice": 1}, "status": 1}, {"_id": 1, "item": "journal", "status": "A"}),
        (
            {"instock": {"$elemMatch": {"qty": {"$gt": 10}}}},
            {"_id": 1, "instock": [{"warehouse": "C", "qty": 15}]},
        ),
        ({"tags": {"$elemMatch": {"$gte": "c"}}, "_id": 0}, {"tags": ["c"]}),
        ({"instock": {"$elemMatch": {"qty": 99}}}, {"_id": 1}),
        (
            {"tags": {"$elemMatch": {"$eq": "b"}}, "item": 1},
            {"_id": 1, "item": "journal", "tags": ["b"]},
        ),
    ],
)
def test_projection(projection, expected) -> None:
    project = compile_projection(projection)
    assert project is not None
    result = project(DOC)
    assert result == expected
    assert list(result) == list(expected)


def test_slice_alone_returns_every_other_field() -> None:
    project = compile_projection({"tags": {"$slice": 1}})
    assert project is not None
    assert project(DOC) == {**DOC, "tags": ["a"]}


@pytest.mark.parametrize("projection", [None, {}, []])
def test_empty_projection_returns_everything(projection) -> None:
    assert compile_projection(projection) is None


def test_projection_does_not_change_the_source() -> None:
    doc = {"_id": 1, "a": {"b": 1, "c": 2}}
    compile_projection({"a.b": 0})(doc)  # type: ignore[misc]
    assert doc == {"_id": 1, "a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    ("projection", "code"),
    [
        ({"a": 1, "b": 0}, 31254),
        ({"a": 0, "b": 1}, 31253),
        ({"a": 1, "a.b": 1}, 31250),
        ({"a.b": 1, "a": 1}, 31250),
        ({"a.$": 1}, 2),
        ({"a": "$b"}, 2),
        ({"a": {"$slice": "x"}}, 28667),
        ({"a": {"$slice": [1, 0]}}, 28724),
        ({"a": {"$elemMatch": 1}}, 2),
        ({"a.b": {"$elemMatch": {"x": 1}}}, 31275),
        ({"$a": 1}, 2),
    ],
)
def test_invalid_projections(projection, code) -> None:
    with pytest.raises(OperationFailure) as info:
        compile_projection(projection)
    assert info.value.code == code


def test_inclusion_keeps_nested_arrays_and_drops_scalars() -> None:
    project = compile_projection({"a.b": 1, "_id": 0})
    assert project is not None
    assert project({"a": [[], [{"b": 1, "c": 2}, 3], 4, {"c": 1}]}) == {"a": [[], [{"b": 1}], {}]}
    assert project({"a": 4}) == {}
    assert project({"a": None}) == {}
