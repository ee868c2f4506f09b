"""How server defaults and manifests combine into a plugin's limits, and the buckets."""

from __future__ import annotations

import pytest

from tessera.governance.governor import limits_for
from tessera.governance.rates import Rate, TokenBuckets, parse_rate
from tessera.plugins.errors import ManifestError
from tessera.plugins.manifest import parse_manifest
from tessera.settings import Settings


def settings(**values: object) -> Settings:
    return Settings.load(values, environ={})


@pytest.mark.parametrize(
    ("text", "rate"),
    [("60/minute", Rate(60, 60.0)), ("1/second", Rate(1, 1.0)), (" 5 / hours ", Rate(5, 3600))],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "60", "0/minute", "10/fortnight", "-1/second", "x/minute"])
def test_bad_rates_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="N/second"):
        parse_rate(text)


def test_a_bad_rate_in_a_manifest_or_setting_is_refused_at_load() -> None:
    with pytest.raises(ManifestError, match="rate_limit"):
        parse_manifest({"rate_limit": "lots"}, "p")
    with pytest.raises(ValueError, match="--rate-limit"):
        settings(rate_limit="lots")


def test_the_stricter_of_server_and_manifest_wins() -> None:
    manifest = parse_manifest(
        {"timeout": 5, "rate_limit": "100/minute", "max_request_bytes": 10_000_000}, "p"
    )
    limits = limits_for(manifest, settings(plugin_timeout=30, rate_limit="10/minute"))
    assert limits.timeout == 5
    assert limits.rate == Rate(10, 60.0)
    assert limits.max_request_bytes == 1_048_576
    assert limits.max_concurrency is None


def test_a_manifest_sets_what_the_server_leaves_open() -> None:
    manifest = parse_manifest({"max_concurrency": 3, "rate_limit": "5/second"}, "p")
    limits = limits_for(manifest, settings())
    assert limits.max_concurrency == 3
    assert limits.rate == Rate(5, 1.0)
    assert limits_for(parse_manifest({}, "p"), settings(max_concurrency=2)).max_concurrency == 2


@pytest.mark.parametrize(
    ("server", "manifest"),
    [
        ({}, {"roles": ["admin"]}),
        ({"rate_limit": "5/second"}, {}),
        ({}, {"rate_limit": "5/second"}),
        ({"max_concurrency": 2}, {}),
        ({}, {"max_concurrency": 2}),
    ],
)
def test_a_role_a_rate_or_a_cap_from_either_side_sends_calls_through_the_governor(
    server: dict[str, object], manifest: dict[str, object]
) -> None:
    assert limits_for(parse_manifest(manifest, "p"), settings(**server)).governed


def test_calls_with_nothing_to_check_skip_the_governor() -> None:
    assert not limits_for(parse_manifest({}, "p"), settings()).governed


def test_a_bucket_allows_a_burst_then_asks_to_wait() -> None:
    buckets = TokenBuckets()
    rate = Rate(3, 60.0)
    assert [buckets.take_all([("alice", rate)]) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take_all([("alice", rate)])
    assert 19 < wait <= 20
    assert buckets.take_all([("bob", rate)]) == 0.0


def test_buckets_forget_the_oldest_keys_past_their_bound() -> None:
    buckets = TokenBuckets(max_keys=2)
    rate = Rate(1, 60.0)
    for key in ("a", "b", "c"):
        buckets.take_all([(key, rate)])
    assert buckets.take_all([("a", rate)]) == 0.0  # forgotten, so a fresh bucket
    assert buckets.take_all([("c", rate)]) > 0


def test_taking_from_several_buckets_takes_from_all_or_none() -> None:
    buckets = TokenBuckets()
    per_name, per_address = Rate(1, 3600), Rate(3, 3600)
    assert buckets.take_all([("alice", per_name), ("addr", per_address)]) == 0
    # alice's bucket is empty: refused, and the address's budget is left as it was.
    assert buckets.take_all([("alice", per_name), ("addr", per_address)]) > 0
    assert buckets.take_all([("bob", per_name), ("addr", per_address)]) == 0
    assert buckets.take_all([("carol", per_name), ("addr", per_address)]) == 0
    assert buckets.take_all([("dave", per_name), ("addr", per_address)]) > 0
