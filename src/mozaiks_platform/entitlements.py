"""``core.entitlements`` under the contract's current name: the same functions."""

from core.entitlements import (
    check_action,
    check_feature,
    check_limit,
    consume_limit,
    get_usage,
)

__all__ = ["check_action", "check_feature", "check_limit", "consume_limit", "get_usage"]
