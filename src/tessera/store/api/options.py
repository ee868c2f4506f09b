"""The options PyMongo's collection methods take that the embedded store accepts."""

from collections.abc import Mapping
from typing import Any

IGNORED_OPTIONS = frozenset(
    {
        "session",
        "comment",
        "hint",
        "bypass_document_validation",
        "max_time_ms",
        "maxTimeMS",
        "allow_disk_use",
        "batch_size",
        "batchSize",
        "let",
        "no_cursor_timeout",
    }
)


def check_options(options: Mapping[str, Any]) -> None:
    unknown = set(options) - IGNORED_OPTIONS
    if unknown:
        raise TypeError(f"option(s) {sorted(unknown)} are not supported by the embedded store")
