"""The contract's current generation (``mozaiks_infra``, ``mozaiks_platform``) is the same
objects as ``core.*``: the hostile plugins of test_containment, rewritten to import them,
meet the same containment through a real server."""

from __future__ import annotations

import importlib
import re
import shutil

import pytest

from tests.isolation.test_containment import (
    PLUGINS,
    seeded,
    test_code_running_with_no_call_context_gets_no_database_and_no_services,
    test_no_attribute_leads_to_an_unscoped_handle_or_the_runtime,
    test_no_clause_of_a_filter_meets_another_users_document,
    test_service_parameters_name_no_other_tenant,
    test_the_runtimes_events_lend_no_plugin_the_callers_authority,
    test_what_is_checked_is_what_runs,
)

RENAMED = {
    "core.config.database": "mozaiks_infra.config.database",
    "core.event_bus": "mozaiks_infra.event_bus",
    "core.websocket_manager": "mozaiks_infra.websocket_manager",
    "core.notifications_manager": "mozaiks_platform.notifications_manager",
    "core.settings_manager": "mozaiks_platform.settings_manager",
    "core.entitlements": "mozaiks_platform.entitlements",
}
NAMES = {
    "core.config.database": ["db", "users_collection", "settings_collection"],
    "core.event_bus": ["event_bus", "on_event"],
    "core.websocket_manager": ["websocket_manager"],
    "core.notifications_manager": ["notifications_manager"],
    "core.settings_manager": ["settings_manager"],
    "core.entitlements": [
        "check_action",
        "check_feature",
        "check_limit",
        "consume_limit",
        "get_usage",
    ],
}
# Imported to run here, against plugins that import the current generation's names.
REUSED = (
    test_code_running_with_no_call_context_gets_no_database_and_no_services,
    test_no_attribute_leads_to_an_unscoped_handle_or_the_runtime,
    test_no_clause_of_a_filter_meets_another_users_document,
    test_service_parameters_name_no_other_tenant,
    test_the_runtimes_events_lend_no_plugin_the_callers_authority,
    test_what_is_checked_is_what_runs,
)


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_each_new_module_holds_the_same_objects_as_its_core_module(old, new):
    core, current = importlib.import_module(old), importlib.import_module(new)
    assert current.__all__ == core.__all__
    for name in NAMES[old]:
        assert getattr(current, name) is getattr(core, name)


@pytest.fixture
def world(serve, tmp_path):
    """test_containment's world, its plugins importing mozaiks_* instead of core.*."""
    plugins = tmp_path / "current_generation"
    shutil.copytree(PLUGINS, plugins)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, RENAMED)) + r")\b")
    rewritten = 0
    for module in plugins.rglob("*.py"):
        text = module.read_text()
        new = pattern.sub(lambda m: RENAMED[m.group(1)], text)
        assert "from core" not in new and "import core" not in new, module
        rewritten += new != text
        module.write_text(new)
    assert rewritten >= 10
    return seeded(serve(plugins))
