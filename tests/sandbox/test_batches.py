"""``insert_many`` of more values than one sandbox operation holds (MAX_FRAME_VALUES): a
sandboxed plugin's batch goes in parts, with the result and errors of the whole batch,
as in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.sandbox.frames import MAX_FRAME_VALUES

PLUGINS = Path(__file__).parent / "plugins"
# Each document holds 12 values with its _id: this many hold about twice what one
# operation may.
COUNT = MAX_FRAME_VALUES // 6


@pytest.fixture(params=["enforce", "sandbox"])
def live(request, serve):
    return serve(PLUGINS, isolation=request.param)


def _import(live, **body: object) -> dict:
    with live.client("alice") as alice:
        response = alice.post("/api/execute/importer", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_batch_over_one_operation_is_inserted_whole_and_in_order(live):
    assert _import(live, action="batch", count=COUNT) == {
        "ids": COUNT,
        "in_order": True,
        "stored": True,
    }


def test_an_ordered_batch_stops_at_its_first_error_counted_in_the_whole_batch(live):
    at = COUNT - 10  # in the last part
    assert _import(live, action="duplicate", count=COUNT, at=at, ordered=True) == {
        "inserted": at,
        "indexes": [at],
        "stored": at,
    }


def test_an_unordered_batch_inserts_all_it_can(live):
    at = COUNT - 10
    assert _import(live, action="duplicate", count=COUNT, at=at, ordered=False) == {
        "inserted": COUNT - 1,
        "indexes": [at],
        "stored": COUNT - 1,
    }


def test_a_batch_holding_a_document_over_one_operation_inserts_none(serve):
    """A document of more values than one operation holds is refused as in a single
    insert, and before any part is sent: none of its batch is inserted."""
    live = serve(PLUGINS, isolation="sandbox")
    answer = _import(live, action="one_too_large", count=COUNT, points=MAX_FRAME_VALUES)
    assert f"document {COUNT} of the batch" in answer["refused"]
    assert answer["stored"] == 0
