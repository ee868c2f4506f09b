"""Names the contract promises that Tessera refuses, each saying what to use instead.

A plugin that imports one still loads (its other actions keep working); the first use
raises :class:`NotProvided` with the replacement, and ``tessera check`` reports the import.
"""

from __future__ import annotations

from typing import Any, NoReturn


class NotProvided(RuntimeError):
    """A contract name Tessera refuses on purpose; the message names what to use instead."""


class Refused:
    """Stands for a refused name: any attribute or call raises :class:`NotProvided`."""

    __slots__ = ("_message", "_name")

    def __init__(self, name: str, message: str) -> None:
        self._name = name
        self._message = message

    def _refuse(self) -> NoReturn:
        raise NotProvided(f"{self._name} is not provided by Tessera: {self._message}")

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        self._refuse()

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __repr__(self) -> str:
        return f"<{self._name}: not provided by Tessera>"


#: Why each refused name is refused and what replaces it; ``tessera check`` reports them.
REFUSED: dict[str, str] = {
    "core.config.database.settings_collection": (
        "a raw handle on every user's settings; use "
        "settings_manager.get_plugin_settings(user_id, plugin) and "
        "save_plugin_settings(user_id, plugin, settings)"
    ),
    "core.notifications.email_channel": (
        "Tessera sends no email; use notifications_manager.create_notification(...) or "
        "in_app_channel.send(...): stored, listed and pushed to the user's open tabs"
    ),
    "core.notifications.broadcast_service": (
        "it reached every user without a check; use websocket_manager.broadcast(message) "
        "for the caller's app, or notifications_manager.create_notification(user_id=...) per "
        "user (other users need the escalation right, see docs/isolation.md)"
    ),
}


def refused(origin: str) -> Refused:
    """The stand-in for the refused name ``origin`` (a key of :data:`REFUSED`)."""
    return Refused(origin.rpartition(".")[2], REFUSED[origin])
