"""What a caller receives of a plugin's result is the same in-process and sandboxed: the
JSON of every type a result may hold, and the 500s for a result over the size limit or
with no JSON form (a sandbox worker encodes the JSON itself, the server checks it)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = """
import datetime as dt
from decimal import Decimal

from bson import Binary, Decimal128, Int64, ObjectId


class Opaque:
    pass


async def execute(data: dict) -> dict:
    if data["action"] == "large":
        return {"blob": "x" * 5000}
    if data["action"] == "huge":
        return {"blob": "x" * 17_000_000}
    if data["action"] == "opaque":
        return {"thing": Opaque()}
    oid = ObjectId("65f0a1b2c3d4e5f601234567")
    east = dt.timezone(dt.timedelta(hours=2))
    return {
        "oid": oid,
        "naive": dt.datetime(2024, 5, 6, 7, 8, 9, 123000),
        "aware": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=east),
        "utc": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
        "raw": b"\\x00\\xffbytes",
        "binary": Binary(b"abc", 0),
        "big": Int64(2**40),
        "dec128": Decimal128("1.10"),
        "dec": Decimal("2.50"),
        "tuple": (1, 2),
        "set": {3},
        "delta": dt.timedelta(minutes=1, seconds=30),
        "int_keys": {1: "one"},
        "unicode": "h\\u00e9 \\u2603 \\U0001f600",
        "nested": {"list": [1, "two", {"three": [oid, None, True, 1.5]}], "empty": {}},
    }
"""


def _plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins" / "results"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(RESULTS)
    (folder / "manifest.json").write_text(json.dumps({"max_response_bytes": 4096}))
    return folder.parent


def test_every_type_a_result_holds_comes_out_as_the_same_json(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        response = alice.post("/api/execute/results", json={"action": "types"})
    assert response.status_code == 200
    assert response.json() == {
        "oid": "65f0a1b2c3d4e5f601234567",
        "naive": "2024-05-06T07:08:09.123000Z",
        "aware": "2024-05-06T07:08:09+02:00",
        "utc": "2024-05-06T07:08:09Z",
        "raw": "AP9ieXRlcw==",
        "binary": "YWJj",
        "big": 2**40,
        "dec128": "1.10",
        "dec": "2.50",
        "tuple": [1, 2],
        "set": [3],
        "delta": 90.0,
        "int_keys": {"1": "one"},
        "unicode": "h\u00e9 \u2603 \U0001f600",
        "nested": {"list": [1, "two", {"three": ["65f0a1b2c3d4e5f601234567", None, True, 1.5]}],
                   "empty": {}},
    }  # fmt: skip


def test_a_result_over_the_response_limit_is_refused_with_a_500(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        response = alice.post("/api/execute/results", json={"action": "large"})
    assert response.status_code == 500
    assert response.json()["error_code"] == "response_too_large"
    assert "limit of 4096 bytes" in response.json()["error"]


def test_a_result_over_16_mib_answers_as_the_limit_allows_in_process_only(
    serve, tmp_path: Path, plugin_mode: str
) -> None:
    """With the response limit raised past 16 MiB, a larger result is sent in-process; a
    sandbox worker's channel carries 16 MiB at most, so sandboxed it is refused as over
    that limit, never as a crash of the plugin."""
    plugins = _plugins(tmp_path)
    (plugins / "results" / "manifest.json").write_text("{}")
    live = serve(plugins, max_response_bytes=32 * 1024 * 1024)
    with live.client("alice") as alice:
        alice.timeout = 60
        response = alice.post("/api/execute/results", json={"action": "huge"})
    if plugin_mode == "in-process":
        assert response.status_code == 200
        assert len(response.json()["blob"]) == 17_000_000
        return
    assert response.status_code == 500
    assert response.json()["error_code"] == "response_too_large"
    assert "limit of 16792576 bytes" in response.json()["error"]


def test_a_result_with_no_json_form_is_refused_with_a_500(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        response = alice.post("/api/execute/results", json={"action": "opaque"})
        again = alice.post("/api/execute/results", json={"action": "types"})
    assert response.status_code == 500
    assert response.json()["error_code"] == "plugin_result_not_json"
    assert again.status_code == 200  # nothing was broken by it
