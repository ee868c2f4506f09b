"""What the checker reports: one finding per broken rule, at a file, line and column."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Errors fail ``tessera check``; warnings fail it only with ``--strict``; notes
    (``info``) never do."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    """A contract rule the checker knows: its id, severity and what it guards."""

    id: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("syntax-error", Severity.ERROR, "a module does not parse"),
        Rule("manifest-invalid", Severity.ERROR, "manifest.json cannot be read"),
        Rule("module-layout", Severity.ERROR, "handler.py + module.json: a layout not run"),
        Rule("entry-missing", Severity.ERROR, "logic.py defines neither execute nor run"),
        Rule("entry-sync", Severity.ERROR, "execute is not async def (contract rule 1)"),
        Rule("missing-return", Severity.ERROR, "a path of execute ends without a dict"),
        Rule("return-not-dict", Severity.ERROR, "execute returns something not a dict"),
        Rule("raise-escapes", Severity.ERROR, "an exception leaves execute (contract rule 2)"),
        Rule("query-unscoped", Severity.ERROR, "a query does not pin user_id (rule 3)"),
        Rule(
            "insert-unscoped",
            Severity.INFO,
            "an inserted document lacks user_id: Tessera adds it, MozaiksCore does not",
        ),
        Rule("scope-unverified", Severity.WARNING, "a filter or document is not a literal"),
        Rule("objectid-unguarded", Severity.WARNING, "ObjectId(client input) may raise"),
        Rule("input-unchecked", Severity.WARNING, "a client field reaches the database untested"),
        Rule(
            "core-import",
            Severity.ERROR,
            "a core.* or mozaiks_* import the contract lacks, or Tessera refuses",
        ),
    )
}


@dataclass(frozen=True, order=True)
class Finding:
    """A broken rule at ``path:line:col`` (1-based), with a message that says what to do."""

    path: str
    line: int
    col: int
    rule: str
    message: str

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a finding; its keys are stable for tools."""
        return {**asdict(self), "severity": self.severity.value}
