"""One user's attack on the server's time and memory (a catastrophic regular expression
from the client, a ``$range`` bomb, 32 synchronous calls that hold their threads, heavy
aggregations and updates of their own documents) leaves another user's calls answering.
``bench/freeze.py`` runs the same scenario and reports the victim's latency."""

from __future__ import annotations

from bench.freeze import PLUGINS, SLEEPERS, under_attack


def test_one_users_attack_leaves_another_users_calls_answering(serve, tmp_path):
    live = serve(PLUGINS, plugin_timeout=5)
    release = tmp_path / "release"
    attack, statuses, _ = under_attack(live.client, release, rounds=20, heavy_documents=3000)
    assert statuses == [200] * len(statuses)
    # The victim was served while every sleeper still blocked its thread.
    assert attack.held_throughout
    # The attacker was answered too, and refused what would take the server down.
    assert all(attack.answers[kind] for kind in ("regex", "range", "aggregate", "update"))
    assert set(attack.answers["range"]) == {400}
    assert len(attack.answers["sleep"]) == SLEEPERS
    assert set(attack.answers["sleep"]) <= {200, 504}
