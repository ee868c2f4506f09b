"""Sandbox mode through a real server: hostile plugins are contained by their workers.

(The OS-level refusals, reading the secret, forking, sockets, are in test_confinement.py.)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest

PLUGINS = Path(__file__).parent / "plugins"


def run(client: httpx.Client, plugin: str, **body: object) -> httpx.Response:
    return client.post(f"/api/execute/{plugin}", json=body)


def wait_for_a_spare(live, plugin: str) -> None:
    """Until ``plugin`` has an idle worker (one starts when a call takes the last)."""
    with live.client("root", superadmin=True) as root:
        for _ in range(1200):
            pool = root.get("/health").json()["sandbox"]["pools"][plugin]
            if pool["workers"] > pool["busy"]:
                return
            time.sleep(0.1)
    raise AssertionError(f"no spare worker of {plugin} started")


@pytest.fixture
def live(serve):
    return serve(PLUGINS, isolation="sandbox", plugin_timeout=5)


def test_a_busy_loop_answers_504_and_other_users_keep_answering(live):
    """The spinning call's worker is killed at the timeout (1 s, from the manifest); the
    server and other callers never wait for it, and the plugin serves again after."""
    outcome: dict[str, httpx.Response] = {}

    def spin() -> None:
        with live.client("mallory") as mallory:
            outcome["spin"] = run(mallory, "spinner", action="spin")

    spinner = threading.Thread(target=spin)
    spinner.start()
    with live.client("alice") as alice:
        alice.timeout = httpx.Timeout(1.0)  # each answer within 1 s, or the test fails
        answers = [run(alice, "pid_trusted").status_code for _ in range(10)]
        answers += [run(alice, "pid_sandboxed").status_code for _ in range(10)]
        wait_for_a_spare(live, "spinner")  # started when the spin took the only worker
        answers += [run(alice, "spinner", action="ok").status_code for _ in range(3)]
    spinner.join(timeout=10)
    assert answers == [200] * 23
    assert outcome["spin"].status_code == 504
    with live.client("mallory") as mallory:
        assert run(mallory, "spinner", action="ok").json() == {"ok": True}
        assert run(mallory, "spinner", action="regex").status_code == 504
        assert run(mallory, "spinner", action="ok").status_code == 200


def test_calls_that_never_overlap_keep_one_worker_and_overlapping_ones_get_a_spare(live):
    """A plugin called one call at a time costs one worker; once calls overlap, a spare
    starts so the next one need not wait for a start."""
    with live.client("alice") as alice:
        assert [run(alice, "hanger").status_code for _ in range(3)] == [200] * 3
    with live.client("root", superadmin=True) as root:
        pool = root.get("/health").json()["sandbox"]["pools"]["hanger"]
        while pool["starting"]:  # a spare on its way would show here
            time.sleep(0.05)
            pool = root.get("/health").json()["sandbox"]["pools"]["hanger"]
        assert (pool["workers"], pool["starts"]) == (1, 1)

        def hang() -> None:
            with live.client("mallory") as mallory:
                run(mallory, "hanger", action="hang")

        hanging = threading.Thread(target=hang)
        hanging.start()
        while root.get("/health").json()["sandbox"]["pools"]["hanger"]["busy"] < 1:
            time.sleep(0.02)
        with live.client("bob") as bob:
            assert run(bob, "hanger").status_code == 200  # overlaps the hanging call
        for _ in range(100):
            pool = root.get("/health").json()["sandbox"]["pools"]["hanger"]
            if pool["workers"] - pool["busy"] >= 1 and pool["starts"] >= 3:
                break
            time.sleep(0.1)
        hanging.join(timeout=30)
    assert pool["starts"] == 3  # bob's (none idle) and the spare his call started
    assert pool["workers"] - pool["busy"] >= 1


def test_one_user_whose_calls_hang_leaves_the_plugins_other_workers_to_others(live):
    """mallory floods a plugin with calls that block their workers until their timeout
    (5 s): they hold at most half of its 4 workers (the rest of hers wait for one of her
    own), so alice's calls to that plugin answer within 1 s each meanwhile."""
    with live.client("alice") as alice:
        assert run(alice, "hanger").json() == {"ok": True}
    answers: list[int] = []

    def hang() -> None:
        with live.client("mallory") as mallory:
            mallory.timeout = httpx.Timeout(60.0)
            answers.append(run(mallory, "hanger", action="hang").status_code)

    flood = [threading.Thread(target=hang) for _ in range(6)]
    for thread in flood:
        thread.start()
    with live.client("root", superadmin=True) as root:
        deadline = time.monotonic() + 3  # her calls take what they can; a spare starts
        while time.monotonic() < deadline:
            pool = root.get("/health").json()["sandbox"]["pools"]["hanger"]
            if pool["busy"] == 2 and pool["workers"] > 2:
                break
            time.sleep(0.05)
    with live.client("alice") as alice:
        alice.timeout = httpx.Timeout(1.0)  # each answer within 1 s, or the test fails
        served = [run(alice, "hanger").status_code for _ in range(5)]
    still_hanging = sum(thread.is_alive() for thread in flood)
    for thread in flood:
        thread.join(timeout=60)
    assert served == [200] * 5
    assert pool["busy"] == 2  # mallory's calls held her share, no more
    assert still_hanging == 6  # alice was served while every one of them waited
    assert answers == [504] * 6


def test_sandbox_deaths_show_in_metrics_and_health(live):
    with live.client("mallory") as mallory:
        assert run(mallory, "spinner", action="spin").status_code == 504
    with live.client("root", superadmin=True) as root:
        metrics = root.get("/metrics").text
        health = root.get("/health").json()
    assert 'tessera_sandbox_worker_deaths_total{plugin="spinner"} 1.0' in metrics
    assert health["sandbox"]["pools"]["spinner"]["deaths"] == 1
    assert health["sandbox"]["backing_off"] == []


def test_the_manifest_flag_sandboxes_one_plugin_and_not_the_others(serve):
    live = serve(PLUGINS)  # isolation "enforce": only manifests ask for workers
    with live.client("alice") as alice:
        sandboxed = run(alice, "pid_sandboxed").json()["pid"]
        trusted = run(alice, "pid_trusted").json()["pid"]
    assert trusted == os.getpid()
    assert sandboxed != os.getpid()


def test_a_worker_cannot_read_or_truncate_the_servers_log(live, tmp_path, capsys):
    """The server's standard output and error are its log (``tessera serve > log``); a
    worker's output reaches them through a pipe, so plugin code can neither read the log
    back through its own descriptors nor truncate it, and ``print`` still reaches it."""
    log = tmp_path / "server.log"
    log.write_text("bob's secret, logged by another plugin\n")
    saved = os.dup(1), os.dup(2)
    opened = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(opened, 1)
    os.dup2(opened, 2)
    try:
        with live.client("mallory") as mallory:
            found = run(mallory, "peeker").text
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (opened, *saved):
            os.close(fd)
    assert "bob's secret" not in found
    assert log.read_text() == "bob's secret, logged by another plugin\n"
    deadline = time.monotonic() + 5
    printed = ""
    while "peeker printed this" not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
        printed += capsys.readouterr().out
    assert "peeker printed this" in printed


def test_a_print_flood_into_a_slow_output_never_stalls_the_server(live, monkeypatch):
    """The server's output is slow (a terminal, a log pipe behind): a worker printing
    without end waits for it, while the server keeps answering other users at once."""
    written: list[str] = []

    class Slow:
        def write(self, text: str) -> int:
            time.sleep(0.5)
            written.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stdout", Slow())

    def print_without_end() -> None:
        with live.client("mallory") as mallory:
            run(mallory, "peeker", lines=200_000)

    flood = threading.Thread(target=print_without_end)
    flood.start()
    with live.client("alice") as alice:
        alice.timeout = httpx.Timeout(1.0)  # each answer within 1 s, or the test fails
        while not written:
            time.sleep(0.01)
        answers = [run(alice, "pid_trusted").status_code for _ in range(10)]
    flood.join(timeout=30)
    assert answers == [200] * 10


def collect_output(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the server's standard output from now on, with one output budget
    window for the whole test however slow the machine (tests print their own text, told
    apart from what earlier tests' workers may still be passing on). Called in the test's
    body: pytest's capture replaces ``sys.stdout`` between a fixture's setup and the test."""
    lines: list[str] = []

    class Collect:
        def write(self, text: str) -> int:
            lines.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stdout", Collect())
    monkeypatch.setattr("tessera.sandbox.process.OUTPUT_WINDOW", 3600.0)
    return lines


def test_a_print_flood_reaches_the_servers_output_only_up_to_its_budget(live, monkeypatch, caplog):
    """A plugin printing without end cannot fill the server's log (and its disk): past
    the budget a minute, the rest is dropped and the drop is logged with its size."""
    from tessera.sandbox.process import OUTPUT_BUDGET

    written = collect_output(monkeypatch)
    line = "budget test line\n"
    with live.client("mallory") as mallory:
        flood = run(mallory, "peeker", lines=3 * OUTPUT_BUDGET // len(line), text=line[:-1])
        assert flood.status_code == 200
        assert run(mallory, "pid_sandboxed").status_code == 200
    with live.client("root", superadmin=True) as root:
        assert root.post("/api/admin/plugins/peeker/reload").status_code == 200
    deadline = time.monotonic() + 10
    while "bytes of its output dropped" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    passed = "".join(written).count(line) * len(line)
    assert 0 < passed <= OUTPUT_BUDGET
    assert "over 1048576 bytes of output in a minute" in caplog.text
    assert "bytes of its output dropped" in caplog.text


def test_a_plugins_output_cannot_drive_the_servers_terminal(live, monkeypatch):
    """What a worker prints reaches the server's output with its control characters
    escaped but line breaks and tabs: an escape sequence (a terminal's title, its
    clipboard, a cleared screen) or a carriage return writing over a line is shown, not
    obeyed."""
    written = collect_output(monkeypatch)
    text = "escape test\x1b]0;pwned\x07\x1b[2J\rover\tkept\u2028"
    with live.client("mallory") as mallory:
        assert run(mallory, "peeker", text=text).status_code == 200
    deadline = time.monotonic() + 5
    while "escape test" not in "".join(written) and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [t for t in "".join(written).splitlines() if t.startswith("escape test")]
    assert line == "escape test\\x1b]0;pwned\\x07\\x1b[2J\\rover\tkept\\u2028"


def test_workers_that_replace_one_another_share_their_plugins_output_budget(live, monkeypatch):
    """A plugin whose workers print and then die, each replaced by a new one, gets no fresh
    budget with each: the budget a minute is the plugin's, whatever worker prints."""
    from tessera.sandbox.process import OUTPUT_BUDGET

    written = collect_output(monkeypatch)
    line = "a line of the replaced workers\n"
    lines = (OUTPUT_BUDGET * 2 // 3) // len(line)
    for user in ("mallory", "mallet", "malcolm"):  # failures of one user would back off
        with live.client(user) as client:
            answer = run(client, "peeker", lines=lines, then_exit=True, text=line[:-1])
            assert answer.status_code == 500
    deadline = time.monotonic() + 5  # each dead worker's output is read to its end
    while "".join(written).count(line) < 3 * lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < "".join(written).count(line) * len(line) <= OUTPUT_BUDGET


def test_workers_left_to_die_idle_count_against_their_callers_not_the_plugin(live):
    """Workers that users' calls leave to die once idle (a thread of the plugin's ending
    the process) count as those users' failures: two users cannot make the plugin back
    off for everyone else."""
    from concurrent.futures import ThreadPoolExecutor

    callers = [live.client(user) for user in ("mallory", "mallet")]
    try:
        with ThreadPoolExecutor(4) as threads:  # two calls each at once: four workers
            answers = list(threads.map(lambda c: run(c, "bomber", action="bomb"), callers * 2))
        assert [a.status_code for a in answers] == [200] * 4
        assert workers_left("bomber") == []
    finally:
        for client in callers:
            client.close()
    with live.client("alice") as alice:
        answer = run(alice, "bomber")
    assert answer.status_code == 200, answer.text


def test_no_unscoped_client_is_reachable_in_the_worker(live):
    with live.client("alice") as alice:
        found = run(alice, "walker").json()
    assert found["gc_seen"] > 1000  # it did walk the heap
    assert found["objects"] == []
    assert found["modules"] == []


@pytest.mark.parametrize("action", ["oversized", "garbage", "negative", "other_call", "unknown_op"])
def test_bad_frames_fail_the_call_and_nothing_else(live, action, caplog):
    with live.client("mallory") as mallory, live.client("alice") as alice:
        failed = run(mallory, "rogue", action=action)
        assert failed.status_code == 500
        assert failed.json()["error_code"] == "plugin_failed"
        assert run(alice, "pid_trusted").status_code == 200
        assert run(mallory, "rogue", action="none").json() == {"ok": True}  # replaced
    assert "broke the channel protocol" in caplog.text


@pytest.mark.parametrize(
    "action",
    [
        "json_cut",
        "json_trailing",
        "json_nan",
        "json_latin1",
        "json_list",
        "json_string",
        "json_error",
        "json_text",
        "json_swarm",
        "too_large_small",
        "too_large_text",
    ],
)
def test_a_forged_json_result_is_refused_never_passed_on(live, action, caplog):
    """A worker sends its result already encoded as JSON, which the server passes on: one
    that is not valid JSON, not an object, or an error (those come as BSON) fails the
    call with a JSON 500 and replaces the worker; the caller never gets the bytes. So does
    a result said to be too large to send whose size is no such size."""
    with live.client("mallory") as mallory:
        failed = run(mallory, "rogue", action=action)
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/json"
        assert failed.json()["error_code"] == "plugin_failed"
        assert "broke the channel protocol" in failed.json()["error"]
        assert run(mallory, "rogue", action="none").json() == {"ok": True}  # replaced
    assert "broke the channel protocol" in caplog.text


def workers_left(plugin: str) -> list[int]:
    """The worker processes of ``plugin`` still running after up to 10 s: a killed one's
    Python ends a moment after its bubblewrap, which is all the pool waits for."""
    deadline = time.monotonic() + 10
    while workers_of(plugin) and time.monotonic() < deadline:
        time.sleep(0.05)
    return workers_of(plugin)


def workers_of(plugin: str) -> list[int]:
    """The pids of the sandbox worker processes of ``plugin`` running on this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tessera.sandbox.worker" in argv and plugin.encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_forged_ready_message_fails_the_start_and_leaves_no_process(serve, caplog):
    """Plugin code that writes a malformed "ready" to the channel while it imports fails
    its worker's start like a failed import: the worker is killed, not left running
    outside the pool (one leaked per call), and repeated failures back off."""
    # A call's time over the import's 10 s: a start slow on a loaded machine still fails
    # as a start (plugin_failed), not as the call's timeout (504).
    live = serve(PLUGINS, isolation="sandbox", plugin_timeout=30)
    with live.client("mallory") as mallory:
        answers = [run(mallory, "impostor") for _ in range(3)]
        assert [a.json()["error_code"] for a in answers] == ["plugin_failed"] * 3
        assert "workers back off for 0.5s" in caplog.text  # from the third failure
        # A call that comes after the 0.5 s (a loaded machine) starts a worker that fails
        # again, and the backoff doubles: one of the next few comes within it.
        for _ in range(8):
            backing_off = run(mallory, "impostor")
            if backing_off.status_code != 500:
                break
            assert backing_off.json()["error_code"] == "plugin_failed"
    assert backing_off.status_code == 503  # a retry may succeed: the caller is told when
    assert backing_off.json()["error_code"] == "plugin_restarting"
    assert 1 <= int(backing_off.headers["retry-after"]) <= 30
    assert workers_left("impostor") == []  # none leaked: each failed start killed its own
    assert "its worker sent no ready message" in caplog.text


def test_a_flood_of_operations_is_bounded(live, caplog):
    with live.client("mallory") as mallory, live.client("alice") as alice:
        assert run(mallory, "rogue", action="flood").json() == {"flooded": True}
        assert run(alice, "pid_trusted").status_code == 200
    assert caplog.text.count("further log lines of this call dropped") == 1


def test_a_worker_over_its_memory_limit_answers_500_naming_it(live):
    with live.client("mallory") as mallory, live.client("alice") as alice:
        hog = run(mallory, "hog", action="allocate")
        assert hog.status_code == 500
        assert hog.json()["error_code"] == "memory_limit"
        assert "memory limit of 512 MiB" in hog.json()["error"]
        assert run(alice, "pid_trusted").status_code == 200
        assert run(mallory, "hog").json() == {"ok": True}  # a new worker


def test_the_operator_sets_the_workers_memory_limit_and_how_many_a_plugin_runs(serve):
    """``sandbox_memory_mb`` is each worker's limit; ``sandbox_workers`` how many workers a
    plugin may run, one user's calls holding half of them (the defaults: 512 MiB, 4)."""
    from concurrent.futures import ThreadPoolExecutor

    live = serve(PLUGINS, isolation="sandbox", sandbox_memory_mb=256, sandbox_workers=8)
    with live.client("alice") as alice:
        over = run(alice, "hog", action="allocate", mb=300)  # within the default 512 MiB
        assert over.status_code == 500
        assert "memory limit of 256 MiB" in over.json()["error"]
        # Each nap outlasts the start of a worker for the next, however loaded the machine
        # (under the whole suite a 1 s nap ended before the fourth worker answered).
        with ThreadPoolExecutor(4) as threads:
            naps = list(
                threads.map(lambda _: run(alice, "hog", action="nap", seconds=4).json(), range(4))
            )
    # Half of 8 is the user's: the four calls ran at once (with the default, two at a time).
    overlap = max(sum(n["started"] <= m["started"] < n["ended"] for n in naps) for m in naps)
    assert overlap == 4


def test_the_sandbox_keeps_to_its_total_of_workers_whatever_the_plugins(serve):
    """``sandbox_total_workers`` bounds every plugin's workers together: a new one ends the
    idle worker unused longest, of any plugin; when every one is busy, the call answers
    503 ``sandbox_busy`` with Retry-After (no plugin's failure, nothing backs off)."""
    from concurrent.futures import ThreadPoolExecutor

    live = serve(PLUGINS, isolation="sandbox", sandbox_total_workers=2)
    with live.client("alice") as alice, live.client("bob") as bob:
        for plugin in ("pid_sandboxed", "hog", "bomber"):  # the third ends the first's
            assert run(alice, plugin).status_code == 200
        with live.client("root", superadmin=True) as root:
            pools = root.get("/health").json()["sandbox"]["pools"]
        assert sum(pool["workers"] for pool in pools.values()) == 2
        assert pools["pid_sandboxed"]["workers"] == 0
        with ThreadPoolExecutor(2) as threads:
            naps = [threads.submit(run, c, "hog", action="nap") for c in (alice, bob)]
            time.sleep(0.5)  # both workers napping
            busy = run(alice, "pid_sandboxed")
            assert [n.result().status_code for n in naps] == [200, 200]
        assert busy.status_code == 503
        assert busy.json()["error_code"] == "sandbox_busy"
        assert int(busy.headers["retry-after"]) >= 1
        assert run(alice, "pid_sandboxed").status_code == 200  # room again


def test_one_users_crashing_calls_back_off_that_user_only(live):
    """Calls that make the worker go over its memory limit (a user's input or data) back
    off after 3 in a row, for that user: everyone else's calls keep being served."""
    with live.client("mallory") as mallory, live.client("alice") as alice:
        codes = [run(mallory, "hog", action="allocate").json()["error_code"] for _ in range(8)]
        assert [run(alice, "hog").status_code for _ in range(3)] == [200] * 3
    assert codes[:4] == ["memory_limit"] * 3 + ["plugin_restarting"]
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["backing_off"] == []


def test_load_reports_what_it_can_read_and_a_failed_import_shows_at_the_first_call(
    serve, tmp_path: Path
):
    """A sandboxed plugin is imported at its first call: what the files show (a syntax
    error, a missing module) fails it at load; an error raised while importing fails that
    call, and the plugin is reported failed from then on."""
    plugins = tmp_path / "plugins"
    for name, code in (
        ("syntax", "async def execute(data)\n    return {}\n"),
        ("missing", "import no_such_module_anywhere\n\nasync def execute(data):\n    return {}\n"),
        ("raises", "raise RuntimeError('boom at import')\n"),
        ("fine", "async def execute(data):\n    return {'ok': True}\n"),
    ):
        (plugins / name).mkdir(parents=True)
        (plugins / name / "logic.py").write_text(code)
    live = serve(plugins, isolation="sandbox")

    def statuses() -> dict[str, str]:
        with live.client("root", superadmin=True) as root:
            return {p["name"]: p["status"] for p in root.get("/api/plugins").json()["plugins"]}

    at_load = statuses()
    with live.client("root", superadmin=True) as root:
        errors = root.get("/health").json()["plugins"]["failed"]
    assert at_load == {
        "syntax": "failed",
        "missing": "failed",
        "raises": "enabled",
        "fine": "enabled",
    }
    assert "syntax error in logic.py line 1" in errors["syntax"]
    assert "imports 'no_such_module_anywhere', which is not installed" in errors["missing"]
    with live.client("alice") as alice:
        assert run(alice, "fine").json() == {"ok": True}
        assert run(alice, "raises").status_code == 500
        assert run(alice, "raises").status_code == 503
    assert statuses()["raises"] == "failed"
    with live.client("root", superadmin=True) as root:
        assert "boom at import" in root.get("/health").json()["plugins"]["failed"]["raises"]


def test_cursor_batches_are_bounded_by_bytes_and_a_16_mib_document_crosses(live):
    """Cursors come in batches of at most 16 MiB (or one larger document), as MongoDB's:
    40 documents of 1 MiB come in several, all in order; a document at the 16 MiB limit
    goes to the store and back whole."""
    with live.client("alice") as alice:
        mib = 1024 * 1024
        assert run(alice, "bulky", action="fill", count=40, size=mib).status_code == 200
        read = run(alice, "bulky", action="read").json()
        assert read["seen"] == list(range(40))
        assert 1 <= read["first_batch"] <= 15  # 16 of 1 MiB and their fields pass 16 MiB
        assert run(alice, "bulky", action="big").json() == {"length": 16 * mib - 100}


def test_a_result_or_document_over_16_mib_fails_the_call_not_the_worker(live):
    """A user whose data makes a plugin answer more than 16 MiB gets an error; the worker
    is kept, so it is no crash: however often it happens, the plugin never backs off for
    everyone else."""
    with live.client("mallory") as mallory, live.client("alice") as alice:
        for _ in range(4):
            failed = run(mallory, "bulky", action="huge_result")
            assert failed.status_code == 500
            assert "channel protocol" not in failed.text
        refused = run(mallory, "bulky", action="huge_insert").json()["error"]
        assert refused.startswith("InvalidDocument: ")
        assert "over the sandbox channel's limit" in refused
        assert run(alice, "bulky", action="big").json() == {"length": 16 * 1024 * 1024 - 100}
    with live.client("root", superadmin=True) as root:
        pool = root.get("/health").json()["sandbox"]["pools"]["bulky"]
    assert pool["deaths"] == 0
    assert pool["backing_off"] is False


def test_an_unsendable_result_whose_description_is_huge_fails_the_call_not_the_worker(live, caplog):
    """A result BSON cannot carry is answered as the TypeError saying so, however long the
    encoder's message (it quotes the value: here 20 MiB): the worker once died of the
    error it meant to send, which counted against the caller as a crash."""
    with live.client("mallory") as mallory:
        for _ in range(3):
            failed = run(mallory, "bulky", action="unsendable_error")
            assert failed.status_code == 500
            assert failed.json()["error"].startswith("The plugin failed;"), failed.text
    assert "PluginRaised: result cannot be sent: Invalid document" in caplog.text
    with live.client("root", superadmin=True) as root:
        pool = root.get("/health").json()["sandbox"]["pools"]["bulky"]
    assert pool["deaths"] == 0
    assert pool["backing_off"] is False


def test_an_error_result_of_many_values_dear_to_decode_is_answered_whole(live):
    """The server refuses a call's end holding more than MAX_FRAME_VALUES values dear to
    decode (ObjectIds, code, datetimes): an error result of 20,000 ObjectIds crosses as
    its JSON, the caller gets what in-process gives, and the worker is kept."""
    with live.client("alice") as alice:
        answer = run(alice, "bulky", action="many_ids_error")
    assert answer.status_code == 400, answer.text
    ids = answer.json()["ids"]
    assert len(ids) == 20_000 and ids[1] == (b"%012d" % 1).hex()
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["bulky"]["deaths"] == 0


def test_a_result_of_more_values_than_json_may_hold_is_answered_whole(live):
    """A result of over a million values crosses as BSON, not JSON (the server would parse
    it on its event loop to check it), and the caller gets all of it, a set as a list as
    with fewer values."""
    with live.client("alice") as alice:
        answer = run(alice, "bulky", action="many_values", count=1_100_000)
        assert answer.status_code == 200
        assert answer.json() == {"zeros": [0] * 1_100_000, "set": [1]}
        few = run(alice, "bulky", action="many_values", count=3).json()
        assert few == {"zeros": [0] * 3, "set": [1]}


def test_a_thread_a_call_left_asking_never_reaches_the_next_users_call(live):
    """A thread of alice's call (its context kept) asking the server as the call ends: it
    passed the check that its call is in flight, then waited for the channel while the
    call's end was sent, and sent its request after it. The server took that stray frame
    for bob's call (a frame for another call: bob's call failed, counted against bob),
    and the thread read what the server sent the worker next. Now the check is made with
    the channel held, and a request after the end is refused in the worker."""
    with live.client("alice") as alice, live.client("bob") as bob:
        for _ in range(8):
            assert run(alice, "racer", action="race").json() == {"raced": True}
            answer = run(bob, "racer")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"ok": True}
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["racer"]["deaths"] == 0


def test_what_encoding_a_result_starts_or_cancels_stays_with_its_call(live):
    """Encoding an error result runs the plugin's own mapping methods, after its code
    returned. A task they start runs as the call, its caller's share kept until it ends
    (its flags were set before the encoding: the worker then sent a 'settled' nobody
    awaited, which failed the next call, bob's); a cancellation they leave on the task
    serving every call retires the worker, never reaching bob's call."""
    with live.client("alice") as alice, live.client("bob") as bob:
        for action in ("start_a_task", "cancel_the_server"):
            assert run(alice, "mapper", action=action).status_code == 400
            assert run(bob, "mapper").json() == {"ok": True}
        for _ in range(100):
            if run(alice, "mapper", action="count").json() == {"notes": 1}:
                break
            time.sleep(0.05)
        assert run(alice, "mapper", action="count").json() == {"notes": 1}
        assert run(bob, "mapper", action="count").json() == {"notes": 0}
    with live.client("root", superadmin=True) as root:
        assert root.get("/health").json()["sandbox"]["pools"]["mapper"]["deaths"] == 0


@pytest.mark.parametrize("kind", ["exit", "interrupt"])
def test_a_timer_a_call_leaves_cannot_end_the_next_users_call(live, kind):
    """A timer alice's call left raises SystemExit (or KeyboardInterrupt) during bob's
    call on the same worker: bob's call answers, and the worker is replaced after it,
    rather than ending under bob's call, which counted against bob."""
    with live.client("alice") as alice, live.client("bob") as bob:
        armed = run(alice, "timebomb", action="arm", kind=kind, after=0.5)
        assert armed.json() == {"armed": True}
        napped = run(bob, "timebomb", action="nap", seconds=1.5)
        assert napped.status_code == 200, napped.text
        again = run(bob, "timebomb")
        assert again.status_code == 200, again.text
    assert again.json()["worker"] != napped.json()["worker"]  # retired after bob's call
