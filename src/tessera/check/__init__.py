"""``tessera check``: a static check of plugins against the MozaiksCore plugin contract."""

from tessera.check.findings import Finding, Rule, Severity
from tessera.check.plugin import check_path, check_plugin, plugin_folders
from tessera.check.report import Report

__all__ = [
    "Finding",
    "Report",
    "Rule",
    "Severity",
    "check_path",
    "check_plugin",
    "plugin_folders",
]
