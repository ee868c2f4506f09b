"""The write and pipeline checks, as tables: which updates and pipelines are refused."""

from __future__ import annotations

import pytest

from tessera.isolation.ownership import claim, document_problem, update_problem
from tessera.isolation.pipeline import boundary_problem, pipeline_problem
from tessera.isolation.policy import Policy, manifest_names

ME = "alice"
POLICY = Policy("enforce", ME, "p", frozenset({"catalog"}))
SCOPED = [{"$match": {"user_id": ME}}]


@pytest.mark.parametrize(
    "update",
    [
        {"$set": {"title": "x"}},
        {"$set": {"user_id": ME, "n": 1}},
        {"$setOnInsert": {"user_id": ME}},
        {"$inc": {"n": 1}, "$unset": {"old": ""}},
        {"$rename": {"a": "b"}},
        {"$push": {"tags": "user_id"}},
        [{"$set": {"n": 1}}, {"$unset": "old"}],
        [{"$addFields": {"total": {"$add": ["$a", "$b"]}}}],
    ],
    ids=repr,
)
def test_updates_that_keep_the_owner_pass(update):
    assert update_problem(update, ME) is None


@pytest.mark.parametrize(
    "update",
    [
        {"$set": {"user_id": "bob"}},
        {"$set": {"user_id": ["alice"]}},
        {"$set": {"user_id.0": "bob"}},
        {"$setOnInsert": {"user_id": "bob"}},
        {"$unset": {"user_id": ""}},
        {"$rename": {"user_id": "owner"}},
        {"$rename": {"owner": "user_id"}},
        {"$currentDate": {"user_id": True}},
        {"$push": {"user_id": "bob"}},
        {"$inc": {"n": 1}, "$set": {"user_id": None}},
        [{"$set": {"user_id": "bob"}}],
        [{"$unset": ["a", "user_id"]}],
        [{"$replaceWith": {"user_id": "bob"}}],
        [{"$replaceRoot": {"newRoot": {}}}],
        [{"$project": {"user_id": 0}}],
        {"$set": {"n": {"$function": {"body": "x", "args": [], "lang": "js"}}}},
    ],
    ids=repr,
)
def test_updates_that_could_hand_the_document_to_someone_else_are_refused(update):
    assert update_problem(update, ME) is not None


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        ({"title": "x"}, False),
        ({"user_id": ME}, False),
        ({"user_id": "bob"}, True),
        ({"user_id": None}, True),
        ({"user_id": [ME]}, True),
        ({"user_id": {"$eq": ME}}, True),
    ],
)
def test_a_document_carries_the_callers_user_id_or_none(document, refused):
    assert (document_problem(document, ME) is not None) is refused


def test_claiming_adds_the_user_id_only_when_missing():
    fresh, owned = {"title": "x"}, {"user_id": ME, "title": "y"}
    claim(fresh, ME)
    claim(owned, "someone-else")
    assert fresh == {"title": "x", "user_id": ME}
    assert owned == {"user_id": ME, "title": "y"}


@pytest.mark.parametrize(
    ("collection", "pipeline"),
    [
        ("notes", SCOPED),
        ("notes", [{"$match": {"$and": [{"user_id": ME}, {"a": 1}]}}, {"$sort": {"a": 1}}]),
        ("notes", [*SCOPED, {"$lookup": {"from": "catalog", "pipeline": [], "as": "c"}}]),
        ("notes", [*SCOPED, {"$unionWith": {"coll": "catalog", "pipeline": []}}]),
        ("notes", [*SCOPED, {"$merge": {"into": "catalog"}}]),
        ("catalog", []),
        ("catalog", [{"$group": {"_id": "$kind"}}]),
        ("catalog", [{"$lookup": {"from": "catalog", "pipeline": [], "as": "c"}}]),
    ],
    ids=repr,
)
def test_pipelines_inside_the_callers_documents_and_shared_data_pass(collection, pipeline):
    assert boundary_problem(pipeline) is None
    assert pipeline_problem(pipeline, collection, POLICY) is None


@pytest.mark.parametrize(
    ("collection", "pipeline"),
    [
        ("notes", []),
        ("notes", [{"$match": {}}]),
        ("notes", [{"$sort": {"a": 1}}, *SCOPED]),
        ("notes", [{"$match": {"$or": [{"user_id": ME}, {"a": 1}]}}]),
        ("notes", [{"$match": {"user_id": ME}, "$limit": 1}]),
        ("notes", [*SCOPED, {"$lookup": {"from": "notes", "pipeline": [], "as": "all"}}]),
        ("notes", [*SCOPED, {"$graphLookup": {"from": "people", "as": "g"}}]),
        ("notes", [*SCOPED, {"$unionWith": "notes"}]),
        ("notes", [*SCOPED, {"$facet": {"a": [{"$unionWith": "other"}]}}]),
        ("notes", [*SCOPED, {"$out": "copy"}]),
        ("notes", [*SCOPED, {"$merge": "copy"}]),
        ("notes", [*SCOPED, {"$group": {"_id": 1, "a": {"$accumulator": {}}}}]),
        ("catalog", [{"$lookup": {"from": "notes", "pipeline": [], "as": "n"}}]),
        (
            "catalog",
            [{"$lookup": {"from": "catalog", "pipeline": [{"$unionWith": "notes"}], "as": "n"}}],
        ),
    ],
    ids=repr,
)
def test_pipelines_that_reach_other_users_are_refused(collection, pipeline):
    assert pipeline_problem(pipeline, collection, POLICY) is not None


@pytest.mark.parametrize(
    "stage",
    [
        {"$out": {"db": "_tessera", "coll": "accounts"}},
        {"$merge": {"into": {"db": "other", "coll": "x"}}},
        {"$lookup": {"from": {"db": "_tessera", "coll": "accounts"}, "as": "a"}},
        {"$unionWith": {"db": "_tessera", "coll": "accounts"}},
        {"$lookup": {"from": "system.users", "as": "a"}},
        {"$currentOp": {}},
        {"$collStats": {"count": {}}},
    ],
    ids=repr,
)
def test_leaving_the_app_database_is_a_boundary_problem(stage):
    assert boundary_problem([*SCOPED, stage]) is not None


@pytest.mark.parametrize("value", ["catalog", [1], {"a": 1}])
def test_a_malformed_manifest_list_grants_nothing(value, caplog):
    assert manifest_names({"shared_collections": value}, "shared_collections") == frozenset()
    assert "must be a list of strings" in caplog.text
    assert manifest_names({"shared_collections": ["a"]}, "shared_collections") == {"a"}
