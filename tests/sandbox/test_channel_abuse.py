"""What a hostile worker sends on its channel that no plugin's code would, through a real
server: log frames naming loggers without bound, or forging the server's log records; and
what a client sends that a worker cannot be sent."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from tessera.sandbox.frames import MAX_FRAME_VALUES
from tessera.sandbox.operations import MAX_LOGGERS
from tessera.sandbox.process import OUTPUT_BUDGET
from tests.sandbox.test_pool_attacks import _workers

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def live(serve):
    return serve(PLUGINS, isolation="sandbox", plugin_timeout=5)


def _loggers(prefix: str) -> set[str]:
    return {n for n in logging.Logger.manager.loggerDict if n.startswith(prefix)}


def _scribble(live, **body: object) -> None:
    assert _call(live, **body).json() == {"ok": True}


def _call(live, **body: object) -> httpx.Response:
    with live.client("mallory") as mallory:
        return mallory.post("/api/execute/scribbler", json=body)


def _logged(caplog) -> list[str]:
    """Each record as the server's log writes it, its exception included."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return [formatter.format(r) for r in caplog.records]


def test_a_plugin_logging_without_end_shares_its_output_budget_a_minute(live, caplog):
    """Log lines are bounded a call (1,000) and, with what its workers print, a plugin's
    a minute (OUTPUT_BUDGET): calls made often cannot fill the log's disk."""
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # 1.8 million characters in all
            _scribble(live, action="chatty", count=600)
    logged = sum(len(r.getMessage()) for r in caplog.records if r.getMessage() == "c" * 1000)
    assert OUTPUT_BUDGET // 2 < logged <= OUTPUT_BUDGET
    assert "bytes of output in a minute" in caplog.text


def test_a_worker_cannot_make_the_server_keep_loggers_without_bound(live, caplog):
    """The server keeps every logger it is asked for, and one for each dotted prefix of a
    name: 10 KB of dots made 5,000 loggers (40 KB: 400 MB and 0.3 s on the event loop).
    A worker logs under its plugin's logger, or a few short names below it."""
    before = _loggers("mozaiks_plugins.")
    with caplog.at_level(logging.INFO):
        _scribble(live, action="dotted", dots=5000)
        for round in range(3):
            _scribble(live, action="many", count=100, round=round)
    made = _loggers("mozaiks_plugins.") - before
    assert len(made) <= MAX_LOGGERS + 1
    assert all(n == "mozaiks_plugins.scribbler" or n.count(".") <= 8 for n in made)
    lines = [r for r in caplog.records if r.getMessage() in ("deep", "many")]
    assert len(lines) == 301  # every line is logged, under a name the plugin may have
    assert {r.name.split(".")[1] for r in lines} == {"scribbler"}


def test_a_worker_cannot_log_as_another_plugin(live, caplog):
    with caplog.at_level(logging.INFO):
        _scribble(live, action="other")
    [line] = [r for r in caplog.records if r.getMessage() == "as another plugin"]
    assert line.name == "mozaiks_plugins.scribbler"


def test_a_worker_cannot_forge_the_servers_log_records(live, caplog):
    """A line break in a worker's line is followed by an indent, and control characters
    are escaped: what it logs cannot start a line that reads as the server's record, nor
    drive the operator's terminal."""
    with caplog.at_level(logging.INFO):
        _scribble(live, action="forged")
        _scribble(live, action="traceback")
    [forged] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ok")]
    first, *continued = forged.split("\n")
    assert first == "ok" and len(continued) == 2
    assert all(line.startswith("    2026-12-07") for line in continued)
    assert "\r" not in forged and "\x1b" not in forged and "\u2028" not in forged
    assert "\\x1b[2J" in forged
    [failed] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("it failed")]
    assert "ValueError: boom" in failed  # a traceback is kept, its lines indented
    assert all(line.startswith(" ") for line in failed.split("\n")[1:])


@pytest.mark.parametrize("action", ["huge_traceback", "huge_refusal", "forged_not_json"])
def test_what_a_call_raised_cannot_flood_or_forge_the_servers_log(live, caplog, action):
    """The error a worker's call ends with is the worker's text: the server logs at most
    64 KiB of a traceback (its end) and 10,000 characters of a message, escaped; it
    logged 5 MB a call, forged records included, and answered a refusal of 5 MB."""
    with caplog.at_level(logging.INFO):
        answer = _call(live, action=action)
    assert answer.status_code == (403 if action == "huge_refusal" else 500)
    assert len(answer.content) < 20_000
    logged = "\n".join(_logged(caplog))
    assert ("x" * 1000 if action != "forged_not_json" else "forged") in logged  # bounded
    assert len(logged) < 200_000
    assert not any(line.startswith("2026-12-07") for line in logged.split("\n"))


def test_refusals_of_a_plugins_megabytes_cannot_flood_the_servers_log(live, caplog):
    """A refused operation is logged with what it named: a user id of 5 MB for
    ``send_to_user``, or in a document to insert, made a log line of 5 MB each, past the
    budget the plugin's own lines have (10 calls of 20 such: 1 GB of log)."""
    with caplog.at_level(logging.INFO):
        assert _call(live, action="refused_huge", count=5).json() == {"refused": 10}
    refusals = [r for r in caplog.records if r.name == "tessera.isolation"]
    assert len(refusals) == 10
    assert all(len(r.getMessage()) < 2000 for r in refusals)
    assert all("characters cut" in r.getMessage() for r in refusals)


def test_a_plugin_raising_an_error_of_megabytes_keeps_its_worker(live):
    """Its message and traceback, over a frame together, are cut in the worker: the call
    answers 500 as any plugin's error, and no worker dies (counting towards a back-off)."""
    answer = _call(live, action="raise_huge")
    assert answer.status_code == 500
    assert answer.json()["error_code"] == "plugin_failed"
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["scribbler"]["deaths"] == 0


# JSON a client may send that BSON cannot hold: a key holding a NUL, an integer over 2^63.
UNSENDABLE = [b'{"a\\u0000b": 1}', b'{"n": 18446744073709551615}']


def test_data_bson_cannot_hold_answers_400_and_leaves_no_worker_behind(live):
    """Such a call failed with 500 and left its worker running, counted by no pool: each
    request of a few bytes made the server start another process (20 requests, 20
    workers of 14 MB each) until the machine ran out of memory."""
    with live.client("mallory") as mallory:
        assert mallory.post("/api/execute/scribbler", json={}).status_code == 200
        running = _workers()
        for body in UNSENDABLE * 5:
            answer = mallory.post(
                "/api/execute/scribbler", content=body, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error_code"] == "bad_request"
            assert "cannot be sent to this sandboxed plugin" in answer.json()["error"]
        assert mallory.post("/api/execute/scribbler", json={}).status_code == 200
        assert not _workers() - running  # no process started, none left behind
    with live.client("root", superadmin=True) as root:
        pool = root.get("/health").json()["sandbox"]["pools"]["scribbler"]
    assert (pool["starts"], pool["deaths"]) == (1, 0)


def test_data_over_a_frame_answers_413_and_keeps_the_worker(serve):
    """A body within ``max_body_bytes`` whose BSON is over the channel's 16 MiB (small
    values take several times their JSON's size): the worker would refuse the frame and
    die of it; the call answers 413 instead."""
    live = serve(PLUGINS, isolation="sandbox", plugin_timeout=5, max_body_bytes=8 * 2**20)
    body = b'{"values": [' + b",".join([b"0"] * 2_000_000) + b"]}"
    with live.client("mallory") as mallory:
        answer = mallory.post(
            "/api/execute/scribbler", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413, answer.text
        assert answer.json()["error_code"] == "payload_too_large"
        assert mallory.post("/api/execute/scribbler", json={}).status_code == 200
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["scribbler"]["deaths"] == 0


def test_event_names_of_megabytes_are_refused_not_remembered(live):
    """The bus remembers the subscriptions matching each event name it sees (1,024
    names): a worker publishing under new names of 8 MB made the server hold 1.5 GB."""
    with live.client("mallory") as mallory:
        answer = mallory.post("/api/execute/herald", json={"count": 20})
    refused = answer.json()["refused"]
    assert len(refused) == 20
    assert "over the limit of 256" in refused[0]
    assert sum(len(name) for name in live.runtime.services.bus._matching) < 100_000


#: The longest another user's call may wait while a worker sends what is dear to handle.
#: The defects these tests catch held every call 2.4-2.9 s; under the whole suite on two
#: cores a call has taken 1.04 s with nothing held up (the issue's 1 s, met when quiet).
HELD_UP = 1.5


def _while_alice_calls(live, plugin: str, **body: object) -> tuple[httpx.Response, list[float]]:
    """Mallory's call of ``plugin`` with ``body``, while alice calls a sandboxed plugin over
    and over: its answer, and how long each of alice's calls took (three more after
    mallory's)."""
    stop, took = threading.Event(), []

    def probe() -> None:
        with live.client("alice") as alice:
            while not stop.is_set():
                started = time.perf_counter()
                assert alice.post("/api/execute/pid_sandboxed", json={}).status_code == 200
                took.append(time.perf_counter() - started)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        while len(took) < 5:  # alice's worker is up and answering
            time.sleep(0.01)
        with live.client("mallory") as mallory:
            answer = mallory.post(f"/api/execute/{plugin}", json=body)
        answered = len(took)
        while len(took) < answered + 3:
            time.sleep(0.01)
    finally:
        stop.set()
        prober.join()
    return answer, took


def test_a_payload_of_millions_of_values_holds_other_users_up_under_a_second(live):
    """A worker's event payload is decoded from its frame, so no one else holds it: the
    bus copied it again, on the event loop (2.4 million empty documents, from one 16 MB
    frame: 1.3-1.8 s during which no other call was answered; 0.4 s without the copy).
    Such a frame is now refused unread (MAX_FRAME_VALUES)."""
    answer, took = _while_alice_calls(live, "crier")
    assert answer.status_code == 500 and "values" in answer.json()["error"]
    assert max(took) < HELD_UP, f"another user's call waited {max(took):.2f}s"


def test_an_operation_of_millions_of_values_is_refused_before_it_holds_others_up(live):
    """The server decodes a worker's frame and checks its operation on its event loop: one
    ``find_one`` holding 8 million nulls in 16 MB held every other call up 3 s. A frame of
    more than MAX_FRAME_VALUES values (but a call's last) is refused unread: the worker
    broke the protocol, its call fails."""
    answer, took = _while_alice_calls(live, "stuffer")
    assert answer.status_code == 500
    assert "values" in answer.json()["error"]
    assert max(took) < HELD_UP, f"another user's call waited {max(took):.2f}s"


def test_plugin_code_sending_too_many_values_gets_an_error_and_keeps_its_worker(live):
    """A document of 300,000 numbers fails in the worker with InvalidDocument, as one
    over 16 MiB does: the plugin can catch it, and no worker dies of it."""
    answer = _call(live, action="many_values").json()
    assert f"more than {MAX_FRAME_VALUES} values" in answer["refused"]
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["scribbler"]["deaths"] == 0


def test_collection_names_mongodb_refuses_are_refused(live):
    """The embedded store took a collection named with a megabyte, or holding a NUL, into
    its catalog for good; MongoDB refuses both (a namespace is at most 255 bytes)."""
    with live.client("mallory") as mallory:
        refused = mallory.post("/api/execute/namer", json={}).json()["refused"]
    assert len(refused) == 2
    assert "over MongoDB's limit of 255 bytes" in refused[0]
    assert "null character" in refused[1]


def test_an_answer_over_a_frame_fails_the_operation_not_the_worker(live):
    """An operation whose answer no frame holds (a ``distinct`` of 20 MB of values, which
    MongoDB refuses too) fails with MongoDB's BSONObjectTooLarge, and the plugin goes on:
    the worker refused the frame and died of it, a failure counted against the caller."""
    answer = _call(live, action="distinct_big").json()
    assert answer == {"code": 10334, "count": 20}
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["scribbler"]["deaths"] == 0


def test_frames_dear_to_handle_do_not_hold_other_users_up(live):
    """Some values cost the server far more than others: a ``find_one`` of 262,044
    JavaScript code values, 3.6 MB and under every bound, took 0.9 s to decode and more to
    plan, and the worker sent it again and again; all on the event loop, it held every
    other call up 2.9 s. An operation now holds at most MAX_FRAME_VALUES values."""
    answer, took = _while_alice_calls(live, "coder")
    assert answer.status_code == 200, answer.text
    assert max(took) < HELD_UP, f"another user's call waited {max(took):.2f}s"


def test_a_frame_ending_a_call_dear_to_decode_does_not_hold_other_users_up(live):
    """A frame ending a call may hold more values than an operation (a result of over a
    million crosses as BSON), but not values dear to decode: a worker ended its call with
    an error result of 2.2 million JavaScript code values in 16 MB, decoded on the event
    loop, and held every other call up 4.5-6 s, each call. Such a frame is refused (its
    call fails, the worker broke the protocol), and checked off the event loop."""
    answer, took = _while_alice_calls(live, "spender")
    assert max(took) < HELD_UP, f"another user's call waited {max(took):.2f}s"
    assert answer.status_code == 500
    assert "values" in answer.json()["error"]


def test_an_operation_dressed_as_a_calls_end_is_refused_before_it_holds_others_up(live):
    """Only a call's end may hold more than MAX_FRAME_VALUES values: an operation whose
    first field was ``settled`` (8 million nulls in its filter) was taken for one by the
    frame's check, then run as the operation it is, on the event loop."""
    answer, took = _while_alice_calls(live, "stuffer", dressed=True)
    assert max(took) < HELD_UP, f"another user's call waited {max(took):.2f}s"
    assert answer.status_code == 500
    assert "broke the channel protocol" in answer.json()["error"]
