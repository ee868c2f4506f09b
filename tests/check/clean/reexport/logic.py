"""The entry point may come from another module of the plugin."""

from .actions import execute

__all__ = ["execute"]
