"""entitlements.yaml as the plugin loads: invalid files stop the plugin, the reference
scaffold's file is enforced as it says, and the API description shows each action's rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tessera.entitlements.errors import ConfigError
from tessera.entitlements.plans import parse_plans, read_plans
from tessera.entitlements.spec import parse_entitlements
from tests.conftest import LiveServer

# What the reference CLI's `new plugin NAME --with-entitlements` writes (its comments left
# out): two features, a monthly consumable and a cap, free/basic/pro tiers, one action.
SCAFFOLD = """\
schema_version: "1.0"
plugin: "{name}"
features:
  basic_access:
    description: "Basic access"
    default: false
  advanced_features:
    description: "Advanced capabilities"
    default: false
limits:
  items_per_month:
    description: "Items that can be created per month"
    type: consumable
    reset: monthly
    default: 0
  max_items:
    description: "Maximum total items allowed"
    type: cap
    default: 0
tiers:
  free:
    features:
      basic_access: false
      advanced_features: false
    limits:
      items_per_month: 0
      max_items: 0
  basic:
    inherits: free
    features:
      basic_access: true
    limits:
      items_per_month: 10
      max_items: 100
  pro:
    inherits: basic
    features:
      advanced_features: true
    limits:
      items_per_month: 100
      max_items: 1000
actions:
  create:
    requires_features:
      - basic_access
    consumes:
      items_per_month: 1
"""

SCAFFOLD_PLANS = {
    "subscription_plans": [
        {"name": "free", "plugins_unlocked": ["*"]},
        {"name": "basic", "plugins_unlocked": ["*"]},
        {"name": "pro", "plugins_unlocked": ["*"]},
    ],
    "settings": {"default_plan": "free"},
}


def test_the_reference_scaffold_is_enforced_as_its_yaml_says(
    serve: Callable[..., LiveServer], tmp_path: Path
) -> None:
    folder = tmp_path / "plugins" / "items"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text("async def execute(data):\n    return {'ok': True}\n")
    (folder / "entitlements.yaml").write_text(SCAFFOLD.format(name="items"))
    plans = tmp_path / "subscription_config.json"
    plans.write_text(json.dumps(SCAFFOLD_PLANS))
    live = serve(tmp_path / "plugins", plans=str(plans))
    create = {"action": "create"}
    with live.client("f", plan="free") as free:
        refused = free.post("/api/execute/items", json=create)
        assert refused.json()["error_code"] == "feature_required"
        assert refused.json()["plans"] == ["basic", "pro"]
        assert free.post("/api/execute/items", json={"action": "list"}).status_code == 200
    with live.client("b", plan="basic") as basic:
        statuses = [basic.post("/api/execute/items", json=create).status_code for _ in range(11)]
        assert statuses == [200] * 10 + [429]
    with live.client("p", plan="pro") as pro:
        assert pro.post("/api/execute/items", json=create).json() == {"ok": True}
        dry = pro.post("/api/execute/items", json={**create, "_entitlement_dry_run": True}).json()
        assert dry["_entitlements"]["features"] == {"basic_access": True, "advanced_features": True}
        assert dry["_entitlements"]["limits"]["max_items"] == {"allowed": 1000}
        assert dry["_entitlements"]["limits"]["items_per_month"]["used"] == 1


BAD = [
    ("tiers:\n  pro:\n    inherits: gold\n", "tiers.pro.inherits names an unknown tier 'gold'"),
    ("tiers:\n  a:\n    inherits: b\n  b:\n    inherits: a\n", "goes round in a circle"),
    ("limits:\n  n:\n    type: bucket\n", "limits.n.type must be consumable or cap"),
    ("limits:\n  n:\n    reset: hourly\n", "limits.n.reset must be one of"),
    ("features:\n  f:\n    default: maybe\n", "features.f.default must be true or false"),
    ("actions:\n  go:\n    requires_features: [nope]\n", "actions.go.requires_features[0]"),
    ("limits:\n  cap:\n    type: cap\nactions:\n  go:\n    consumes: {cap: 1}\n", "consumable"),
    ("tiers:\n  pro:\n    limits: {ghost: 3}\n", "tiers.pro.limits.ghost is not a declared limit"),
    ("featurez: {}\n", "featurez is not a known key"),
    ("limits:\n  n:\n    default: 1000000000000000000000000000000\n", "must be at most"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_an_invalid_file_names_the_path_in_the_document(body: str, message: str) -> None:
    import yaml

    raw = yaml.safe_load(f'schema_version: "1.0"\nplugin: p\n{body}')
    with pytest.raises(ConfigError) as caught:
        parse_entitlements(raw, "p")
    assert message in str(caught.value)
    assert "entitlements.yaml of plugin 'p'" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        "schema_version: [1.0\n",
        'schema_version: "1.0"\nplugin: other\n',
        "- just a list\n",
        # Values that are not names where a name is looked up: refused as the rest are.
        'schema_version: "1.0"\nplugin: basic_chat\ntiers:\n  a:\n    inherits: [b]\n  b: {}\n',
        'schema_version: "1.0"\nplugin: basic_chat\nfeatures: {f: {}}\n'
        "actions:\n  go:\n    requires_features: [{f: 1}]\n",
        "schema_version: " + "[" * 20_000,  # deeper than the YAML parser goes
    ],
)
def test_an_invalid_file_stops_that_plugin_from_loading(
    planned: Callable[..., LiveServer], plugins: Path, body: str
) -> None:
    (plugins / "basic_chat" / "entitlements.yaml").write_text(body)
    live = planned()
    with live.client("ann", plan="pro") as ann, live.client("root", superadmin=True) as root:
        answer = ann.post("/api/execute/basic_chat", json={})
        assert answer.status_code == 503
        assert answer.json()["error_code"] == "plugin_unavailable"
        listed = {p["name"]: p for p in root.get("/api/plugins").json()["plugins"]}
        assert "entitlements.yaml of plugin 'basic_chat'" in listed["basic_chat"]["error"]
        # The others load.
        assert ann.post("/api/execute/notes", json={"action": "list"}).status_code == 200


def test_a_plans_file_nested_past_the_parser_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text("[" * 200_000)
    with pytest.raises(ConfigError, match="cannot read the plans file"):
        read_plans(path)


def test_an_invalid_plans_file_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"subscription_plans\[0\].plugins_unlocked"):
        parse_plans({"subscription_plans": [{"name": "a", "plugins_unlocked": "*"}]}, "p.json")
    with pytest.raises(ConfigError, match=r"settings\.default_plan must name one of the plans"):
        parse_plans({"subscription_plans": [{"name": "a"}], "settings": {}}, "p.json")
    for key in ("default_plan", "trial_plan"):
        with pytest.raises(ConfigError, match=rf"settings\.{key} must name one of the plans"):
            parse_plans(
                {"subscription_plans": [{"name": "free"}], "settings": {key: ["free"]}}, "p"
            )
    with pytest.raises(ConfigError, match=r"settings\.trial_period_days must be"):
        parse_plans(
            {"subscription_plans": [{"name": "free"}], "settings": {"trial_period_days": 10**9}},
            "p",
        )


def test_the_api_description_shows_what_each_action_requires_and_consumes(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann") as ann:
        operation = ann.get("/openapi.json").json()["paths"]["/api/execute/notes"]["post"]
    assert "- `export`: requires `export`" in operation["description"]
    assert (
        "- `create`: consumes 1 of `notes_per_month` when it succeeds" in operation["description"]
    )
    assert operation["x-entitlements"]["create"]["consumes"] == {"notes_per_month": 1}
