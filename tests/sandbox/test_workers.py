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
