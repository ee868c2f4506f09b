"""Prints the conformance summary: ran, passed, failed, skipped, and skips by reason."""

from collections import Counter
from typing import Any

import pytest

MODULE = "test_crud_unified.py::"


def _backend(nodeid: str) -> str:
    # The ``client`` fixture's parameter comes first in the test id: [mongodb-<case>].
    return "mongodb" if "[mongodb-" in nodeid else "embedded"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    outcomes: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    for status in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(status, []):
            nodeid = getattr(report, "nodeid", "")
            if MODULE not in nodeid or (status == "passed" and report.when != "call"):
                continue
            backend = _backend(nodeid)
            outcome = "failed" if status == "error" else status
            outcomes.setdefault(backend, Counter())[outcome] += 1
            if dict(report.user_properties).get("events_ignored"):
                outcomes[backend]["events_ignored"] += 1
            if status == "skipped":
                reasons.setdefault(backend, Counter())[_skip_reason(report)] += 1
    for backend, counts in outcomes.items():
        ran = counts["passed"] + counts["failed"]
        terminalreporter.write_sep("=", f"CRUD conformance on {backend}")
        terminalreporter.write_line(
            f"{ran + counts['skipped']} tests: ran {ran}, passed {counts['passed']}, "
            f"failed {counts['failed']}, skipped {counts['skipped']}"
        )
        if counts["events_ignored"]:
            terminalreporter.write_line(
                f"  {counts['events_ignored']:4d} ran without checking their expectEvents "
                "(command monitoring is not implemented)"
            )
        for reason, count in reasons.get(backend, Counter()).most_common():
            terminalreporter.write_line(f"  {count:4d} skipped: {reason}")
