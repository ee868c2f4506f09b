"""The MongoDB CRUD specification tests (unified format), on every store backend."""

from typing import Any

import pytest

from .cases import Case, load_cases
from .runner import run_case, server_of
from .skips import skip_reason

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_crud_unified(case: Case, client: Any) -> None:
    reason = skip_reason(case, await server_of(client))
    if reason is not None:
        pytest.skip(reason)
    await run_case(case, client)
