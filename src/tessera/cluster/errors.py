"""Why a call that needed the cluster's shared state failed.

ClusterUnavailable  Redis, through which the processes share state, is unreachable
"""

from __future__ import annotations


class ClusterUnavailable(RuntimeError):
    """Redis, which the cluster shares its state through, cannot be reached; the message
    names the operation and is for the log (callers get a 503 without it)."""
