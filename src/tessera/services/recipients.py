"""Whom a plugin may address through the services, and in which app.

The one place the plugin-facing services (``send_to_user``, ``broadcast``, notifications,
settings) decide it: always the caller's app, which no parameter can change; the caller
themself, or another user when the caller holds the escalation right (superadmin, or a
role the plugin's manifest lists in ``escalation_roles``), logged.
"""

from __future__ import annotations

from typing import Any

from tessera.services.database import bound, caller


def recipient_app(user_id: Any, operation: str) -> str:
    """The app in which the plugin now running may address ``user_id``; IsolationError
    for another user without the escalation right, NotBound with no caller."""
    if type(user_id) is not str or not user_id:
        raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
    call = caller(operation)
    bound().check_recipient(call, user_id, operation)
    return call.identity.app_id


def settings_app(user_id: Any, plugin: str, operation: str) -> str:
    """As :func:`recipient_app`, for ``plugin``'s settings: another plugin's are refused to
    a sandboxed plugin the operator did not list."""
    app = recipient_app(user_id, operation)
    bound().check_plugin(caller(operation), plugin, operation)
    return app


def caller_app(operation: str) -> str:
    """The app of the call in progress, for app-wide messages such as ``broadcast``."""
    return caller(operation).identity.app_id
