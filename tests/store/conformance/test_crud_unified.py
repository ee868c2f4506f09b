"""The MongoDB CRUD specification tests (unified format), on every store backend."""

from typing import Any

import pytest

from .cases import Case, load_cases, required_dir
from .runner import run_case, server_of
from .skips import skip_reason

CASES = load_cases(required_dir())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_crud_unified(case: Case, client: Any, record_property: Any) -> None:
    reason = skip_reason(case, await server_of(client))
    if reason is not None:
        pytest.skip(reason)
    # Command monitoring is not checked: the test's other expectations still run.
    record_property("events_ignored", "expectEvents" in case.test)
    await run_case(case, client)
