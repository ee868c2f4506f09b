"""``core.websocket_manager`` under the contract's current name: the same object."""

from core.websocket_manager import websocket_manager

__all__ = ["websocket_manager"]
