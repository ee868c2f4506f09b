"""A plugin's query nested too deep: the store's clear error (code 15, or 232 for more than
20 nested sub-pipelines), which the plugin answers as a 400, in process and in the sandbox;
never a RecursionError (a 500), nor a pipeline left running for minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.store.aggregation.pipeline import MAX_SUB_PIPELINE_DEPTH

SEARCH = """
from pymongo.errors import OperationFailure

from core.config.database import db


async def execute(data):
    expr = True
    for _ in range(data["levels"]):
        expr = {"$not": {"$not": expr}}
    pipeline = [{"$match": {"user_id": data["user_id"]}}, {"$match": {"$expr": expr}}]
    try:
        found = await db["notes"].aggregate(pipeline).to_list(None)
    except OperationFailure as exc:
        return {"error": str(exc), "code": exc.code}
    return {"found": len(found)}
"""

# Each level a $lookup into the shared "catalog", run for each of its documents.
LOOKUPS = """
from pymongo.errors import OperationFailure

from core.config.database import db


async def execute(data):
    inner = []
    for _ in range(data["levels"]):
        inner = [{"$lookup": {"from": "catalog", "as": "found", "pipeline": inner}}]
    pipeline = [{"$match": {"user_id": data["user_id"]}}, *inner]
    try:
        found = await db["notes"].aggregate(pipeline).to_list(None)
    except OperationFailure as exc:
        return {"error": str(exc), "code": exc.code}
    return {"found": len(found)}
"""


@pytest.fixture(params=["enforce", "sandbox"])
def live(request, serve, tmp_path: Path):
    for name, code in [("search", SEARCH), ("lookups", LOOKUPS)]:
        folder = tmp_path / "plugins" / name
        folder.mkdir(parents=True)
        (folder / "logic.py").write_text(code)
    (tmp_path / "plugins" / "lookups" / "manifest.json").write_text(
        '{"shared_collections": ["catalog"]}'
    )
    return serve(tmp_path / "plugins", isolation=request.param)


# Two levels an operator pair: 200 levels, and 4,000 (past Python's recursion limit).
@pytest.mark.parametrize("pairs", [100, 2000])
def test_an_expression_nested_too_deep_is_a_clear_400(live, pairs):
    with live.client("alice") as alice:
        refused = alice.post("/api/execute/search", json={"levels": pairs})
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == 15
        assert "more than 120 levels deep" in refused.json()["error"]
        answered = alice.post("/api/execute/search", json={"levels": 50})
        assert answered.json() == {"found": 0}


def test_sub_pipelines_nested_too_deep_are_a_clear_400(live):
    with live.client("alice") as alice:
        deep = alice.post("/api/execute/lookups", json={"levels": MAX_SUB_PIPELINE_DEPTH + 1})
        assert deep.status_code == 400, deep.text
        assert deep.json()["code"] == 232
        assert "nested sub-pipelines exceeded. Limit is 20" in deep.json()["error"]
        at_limit = alice.post("/api/execute/lookups", json={"levels": MAX_SUB_PIPELINE_DEPTH})
        assert at_limit.json() == {"found": 0}
