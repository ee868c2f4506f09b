"""Fixtures of the plugins tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["in-process", "sandbox"])
def plugin_mode(request: pytest.FixtureRequest) -> str:
    """Every test here that starts a server runs with plugins in-process and sandboxed."""
    return str(request.param)
