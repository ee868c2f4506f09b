"""A live server with the test plans and plugins, and a clock the tests move."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

HERE = Path(__file__).resolve().parent
PLANS = HERE / "plans.json"


class Clock:
    """The gate's clock, set by the test: crossing a period or a trial's end is one line."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    target = tmp_path / "plugins"
    shutil.copytree(HERE / "plugins", target)
    return target


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 30, 12, 0, tzinfo=UTC))


@pytest.fixture
def planned(
    serve: Callable[..., LiveServer], plugins: Path, clock: Clock
) -> Callable[..., LiveServer]:
    """``planned(**settings)``: a live server with the test plans on the test clock."""

    def start(**settings: Any) -> LiveServer:
        live = serve(plugins, plans=str(PLANS), **settings)
        assert live.runtime.entitlements is not None
        live.runtime.entitlements.clock = clock
        return live

    return start
