"""Who a message or notification may be sent to, and in which app.

The one place that decides it for ``send_to_user``, ``broadcast`` and
``create_notification``: the app is the caller's (or the server's default outside a call).
Tenant isolation adds its check for messages aimed at another user here.
"""

from __future__ import annotations

from tessera.context import current_call


def recipient_app(user_id: str, default_app: str) -> str:
    """The app in which ``user_id`` is addressed by the code running now."""
    if not isinstance(user_id, str) or not user_id:
        raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
    call = current_call.get()
    return call.identity.app_id if call is not None else default_app


def caller_app(default_app: str) -> str:
    """The app of the call in progress, for app-wide messages such as ``broadcast``."""
    call = current_call.get()
    return call.identity.app_id if call is not None else default_app
