"""``core.entitlements``: the caller's plan, features and limits, as plugins ask for them."""

from tessera.entitlements.sdk import (
    check_action,
    check_feature,
    check_limit,
    consume_limit,
    get_usage,
)

__all__ = ["check_action", "check_feature", "check_limit", "consume_limit", "get_usage"]
