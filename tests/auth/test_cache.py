import time

from tessera.auth import Identity
from tessera.auth.cache import VerifiedTokens

ALICE = Identity("u1", "alice", "app")


def test_hit_until_expiry_then_miss() -> None:
    cache = VerifiedTokens(10)
    cache.put("live", ALICE, time.time() + 60)
    cache.put("dead", ALICE, time.time() - 1)
    assert cache.get("live") is ALICE
    assert cache.get("dead") is None
    assert cache.get("unknown") is None


def test_least_recently_used_entry_is_evicted() -> None:
    cache = VerifiedTokens(2)
    later = time.time() + 60
    cache.put("a", ALICE, later)
    cache.put("b", ALICE, later)
    cache.get("a")
    cache.put("c", ALICE, later)
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is ALICE
    assert cache.get("c") is ALICE


def test_size_zero_disables_the_cache() -> None:
    cache = VerifiedTokens(0)
    cache.put("a", ALICE, time.time() + 60)
    assert cache.get("a") is None


def test_forget_drops_the_tokens_of_the_given_keys() -> None:
    cache = VerifiedTokens(10)
    later = time.time() + 60
    cache.put("a", ALICE, later, "k1")
    cache.put("b", ALICE, later, "k2")
    cache.put("c", ALICE, later, "k3")
    cache.forget({"k1", "k3"})
    assert cache.get("a") is None
    assert cache.get("b") is ALICE
    assert cache.get("c") is None
