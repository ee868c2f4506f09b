"""Sandbox mode: plugin code in confined worker processes (docs/isolation.md#sandbox-mode)."""
