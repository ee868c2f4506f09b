"""One user's attack on the server's time and memory (a catastrophic regular expression
from the client, a ``$range`` bomb, 32 synchronous calls that hold their threads) leaves
another user's calls answering. ``bench/freeze.py`` runs the same scenario and reports
the victim's latency."""

from __future__ import annotations

from bench.freeze import PLUGINS, SLEEPERS, under_attack


def test_one_users_attack_leaves_another_users_calls_answering(serve, tmp_path):
    live = serve(PLUGINS, plugin_timeout=5)
    attack, statuses, _ = under_attack(live.client, tmp_path / "release", rounds=25)
    assert statuses == [200] * len(statuses)
    # The victim was served while every sleeper still blocked its thread.
    assert attack.held_throughout
    # The attacker was answered too, and refused what would take the server down.
    assert attack.answers["regex"] and attack.answers["range"]
    assert set(attack.answers["range"]) == {400}
    assert len(attack.answers["sleep"]) == SLEEPERS
    assert set(attack.answers["sleep"]) <= {200, 504}
