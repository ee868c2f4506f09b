"""The event bus across processes: once per cluster, retries, dead letters, every process."""

from __future__ import annotations

import collections
import contextvars
import os
import signal
import time

from tessera.services.events import wire
from tessera.services.events.base import Event
from tests.scaleout.conftest import Cluster, RedisServer, eventually
from tests.scaleout.test_soak import ready


def test_each_event_is_handled_once_by_a_subscription_present_in_every_process(pair: Cluster):
    a, b = pair.nodes
    for n in range(100, 120):
        assert (b, a)[n % 2].call(
            "dave", "relay", action="publish", event="job:made", n=n
        ).status_code == 200

    def done() -> collections.Counter[str]:
        return collections.Counter(
            n for kind, _, n in pair.handled if kind == "done" and n.startswith("1")
        )

    eventually(lambda: len(done()) == 20, what="20 events handled")
    # The cluster-wide guarantee is per event: no process handled one a second time.
    assert set(done().values()) == {1}
    # The work spread over the processes, not only the publisher's.
    pids = {pid for kind, pid, n in pair.handled if kind == "done" and n.startswith("1")}
    assert pids <= {a.process.pid, b.process.pid}


def test_an_every_process_subscription_runs_in_each_process(pair: Cluster):
    a, b = pair.nodes
    assert a.call("erin", "relay", action="publish", event="cache:flush", n=200).status_code == 200

    def cached() -> list[int]:
        return sorted(pid for kind, pid, n in pair.handled if kind == "cache" and n == "200")

    eventually(lambda: len(cached()) == 2, what="both processes refreshed their cache")
    assert cached() == sorted([a.process.pid, b.process.pid])


def test_a_failing_handler_is_retried_then_recorded_as_a_dead_letter(pair: Cluster):
    from tessera.services.events.redis import MAX_ATTEMPTS

    a, _ = pair.nodes
    a.call("frank", "relay", action="publish", event="job:doomed", n=300, fail=True)

    def attempts() -> int:
        return sum(1 for kind, _, n in pair.handled if kind == "start" and n == "300")

    eventually(lambda: attempts() == MAX_ATTEMPTS, seconds=15, what="every attempt made")
    redis = pair.redis.client()
    eventually(lambda: redis.xlen("tessera:events:dead") == 1, what="a dead letter")
    ((_, letter),) = redis.xrange("tessera:events:dead")
    assert letter[b"name"] == b"job:doomed"
    assert letter[b"attempts"] == str(MAX_ATTEMPTS).encode()
    assert letter[b"subscription"].startswith(b"relay|job:*|")


def test_an_event_whose_process_dies_mid_handler_is_handled_by_another(cluster: Cluster):
    nodes = cluster.start(2)
    nodes[0].call("gina", "relay", action="publish", event="job:long", n=400, stall=True)
    eventually(lambda: any(kind == "start" for kind, _, _ in cluster.handled), what="a start")
    ((_, first, _),) = cluster.handled
    stalled = next(node for node in nodes if node.process.pid == first)
    stalled.kill()
    survivor = next(node for node in nodes if node is not stalled)
    eventually(
        lambda: ("done", survivor.process.pid, "400") in cluster.handled,
        seconds=15,
        what="the survivor handled the event",
    )


def test_an_event_whose_delivery_an_outage_cut_is_handled_once_redis_is_back(
    cluster: Cluster, redis_server: RedisServer
):
    """Redis gave a process an entry and died before the process read the reply: the
    entry is that process's, pending. Once Redis is back the process reads its own
    pending entries again and handles it at once, not after the claim of silent
    entries (the handler timeout and a margin: 32 s here)."""
    (node,) = cluster.start(1, handler_timeout=30)
    raw = redis_server.client()

    def job_group() -> tuple[bytes, bytes] | None:
        """The stream and the consumer group of the relay's ``job:*`` handler, once made
        (an event published before it is not the group's)."""
        for key in raw.keys("*"):
            if raw.type(key) == b"stream" and b"dead" not in key:
                for group in raw.xinfo_groups(key):
                    if b"job" in group["name"]:
                        return key, group["name"]
        return None

    eventually(lambda: job_group() is not None, what="the handler's consumer group")
    stream, group = job_group() or (b"", b"")
    node.call("ida", "relay", action="publish", event="job:warm", n=800)
    eventually(lambda: ("done", node.process.pid, "800") in cluster.handled, what="warm-up")
    (consumer,) = [c["name"] for c in raw.xinfo_consumers(stream, group)]
    # Frozen past its blocking read, the process reads nothing while the entry is given.
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)
        event = Event("job:lost", {"n": 801}, contextvars.Context())
        raw.xadd(stream, {"name": b"job:lost", "data": wire.encode(event), "id": b"lost-1"})
        given = raw.xreadgroup(group, consumer, {stream: ">"}, count=1)
        assert len(given[0][1]) == 1
        redis_server.kill()
    finally:
        os.kill(node.process.pid, signal.SIGCONT)
    eventually(lambda: not ready(node), what="the process sees the outage")
    redis_server.start()
    eventually(
        lambda: ("done", node.process.pid, "801") in cluster.handled,
        seconds=15,
        what="the entry Redis gave before it died, handled once it is back",
    )
    time.sleep(1)
    assert [n for kind, _, n in cluster.handled if kind == "done"].count("801") == 1
