"""``in_app_channel``: in-app notifications in the reference's channel interface;
``email_channel`` and ``broadcast_service``: refused, each naming what to use instead."""

from tessera.services.channels import broadcast_service, email_channel, in_app_channel

__all__ = ["broadcast_service", "email_channel", "in_app_channel"]
