"""``core.notifications``: the reference's delivery channels, as far as they are safe.

``in_app_channel`` is the reference's in-app channel over ``notifications_manager``, so the
same recipient rule holds (the caller, or any user with the escalation right).
``email_channel`` and ``broadcast_service`` are refused, saying what to use instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.services.notifications import notifications_manager
from tessera.services.unprovided import Refused, refused


class InAppChannel:
    """The reference's ``NotificationChannel`` interface, delivering in-app notifications."""

    __slots__ = ()

    channel_id = "in_app"
    channel_name = "In-App"

    def is_enabled(self) -> bool:
        return True

    async def send(
        self,
        user_id: str,
        notification_type: str,
        title: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        template_data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create the notification (``template_data`` is unused: no templates here); True
        once stored. Another user needs the escalation right, as in notifications_manager."""
        await notifications_manager.create_notification(
            user_id=user_id,
            notification_type=notification_type,
            title=title,
            message=message,
            metadata=metadata,
            channels=[self.channel_id],
        )
        return True

    async def send_bulk(
        self,
        user_ids: Iterable[str],
        notification_type: str,
        title: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        template_data: Mapping[str, Any] | None = None,
    ) -> dict[str, bool]:
        """``send`` to each user; a refusal is raised, not hidden as ``False``."""
        return {
            user_id: await self.send(user_id, notification_type, title, message, metadata)
            for user_id in user_ids
        }

    def get_config(self) -> dict[str, Any]:
        return {"id": self.channel_id, "name": self.channel_name, "enabled": True}

    def __repr__(self) -> str:
        return "<core.notifications.in_app_channel: notifications of the caller's app>"


in_app_channel = InAppChannel()
email_channel: Refused = refused("core.notifications.email_channel")
broadcast_service: Refused = refused("core.notifications.broadcast_service")
