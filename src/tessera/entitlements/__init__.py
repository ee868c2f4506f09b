"""Plans and entitlements: which plans unlock which plugins, and what each action of a
plugin requires and consumes (docs/entitlements.md).

The gate (``gate.py``) and its counters (``ledger.py``, ``ledger_redis.py``) are imported
from their modules: they need the runtime's services, which the plugin registry does not.
"""

from tessera.entitlements.errors import (
    ConfigError,
    EntitlementError,
    EntitlementsUnavailable,
    FeatureRequired,
    LimitReached,
    PlanRequired,
    Refused,
)
from tessera.entitlements.plans import Plan, Plans, read_plans
from tessera.entitlements.spec import PluginEntitlements, read_entitlements

__all__ = [
    "ConfigError",
    "EntitlementError",
    "EntitlementsUnavailable",
    "FeatureRequired",
    "LimitReached",
    "Plan",
    "PlanRequired",
    "Plans",
    "PluginEntitlements",
    "Refused",
    "read_entitlements",
    "read_plans",
]
