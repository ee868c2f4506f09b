"""``websocket_manager``: push messages to a user's open WebSockets."""

from tessera.services.websocket import websocket_manager

__all__ = ["websocket_manager"]
