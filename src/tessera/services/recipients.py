"""Who a message or notification may be sent to, and in which app.

The one place that decides it for ``send_to_user``, ``broadcast`` and
``create_notification``: the app is the caller's (or the server's default outside a call).
Tenant isolation adds its check for messages aimed at another user here.
"""

from __future__ import annotations

from tessera.context import current_call
from tessera.services.database import db


def recipient_app(user_id: str, default_app: str, operation: str) -> str:
    """The app in which ``user_id`` is addressed by the code running now.

    During a plugin call, addressing a user other than the caller goes through tenant
    isolation (refused, or allowed and logged for an escalated caller).
    """
    if not isinstance(user_id, str) or not user_id:
        raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
    call = current_call.get()
    if call is None:
        return default_app
    db.check_recipient(user_id, operation)
    return call.identity.app_id


def caller_app(default_app: str) -> str:
    """The app of the call in progress, for app-wide messages such as ``broadcast``."""
    call = current_call.get()
    return call.identity.app_id if call is not None else default_app
