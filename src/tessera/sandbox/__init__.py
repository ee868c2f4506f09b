"""Sandbox mode: plugin code in worker processes, its ``core.*`` calls answered by the
server under the same isolation as in-process (docs/isolation.md#sandbox-mode)."""
