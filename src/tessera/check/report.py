"""The outcome of a check: findings in order, as text for people or JSON for tools."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tessera.check.findings import Finding, Severity


@dataclass
class Report:
    """Findings over the plugins checked; ``failed`` decides the exit status."""

    plugins: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def failed(self, strict: bool = False) -> bool:
        """Errors fail a check; warnings fail it only when ``strict``; notes never do."""
        failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
        return any(f.severity in failing for f in self.findings)

    def text(self) -> str:
        """``path:line:col: rule [severity] message`` lines and a summary line."""
        lines = [
            f"{f.path}:{f.line}:{f.col}: {f.rule} [{f.severity.value}] {f.message}"
            for f in self.findings
        ]
        errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
        checked = f"{len(self.plugins)} plugin{'s' if len(self.plugins) != 1 else ''}"
        notes = self.count(Severity.INFO)
        more = f", {notes} note(s)" if notes else ""
        lines.append(f"{checked} checked: {errors} error(s), {warnings} warning(s){more}")
        return "\n".join(lines)

    def json(self) -> str:
        """A JSON list of findings, each with the keys of ``Finding.as_dict``."""
        return json.dumps([f.as_dict() for f in self.findings], indent=2, sort_keys=True)
