"""Why a plugin could not be loaded or called.

PluginError
├── ManifestError     manifest.json is unreadable or has a wrong value
├── PluginLoadError   logic.py is missing, fails to import, or has no entry point
└── PluginNotFound    no loaded, enabled plugin has that name
    └── PluginUnavailable   the plugin's folder is there, but it failed to load

ReportedCrash         a call failed for a reason the caller is told (a sandbox worker's
                      memory limit, workers backing off after repeated crashes)
"""


class PluginError(Exception):
    """Base class of plugin errors; the message names the plugin and the fix."""


class ManifestError(PluginError):
    """The plugin's manifest.json cannot be used."""


class PluginLoadError(PluginError):
    """The plugin's code could not be imported or does not follow the contract."""


class PluginNotFound(PluginError):
    """No loaded, enabled plugin has the requested name."""


class PluginUnavailable(PluginNotFound):
    """The plugin exists but failed to load: a server-side fault, not a wrong name."""

    def __init__(self, message: str, load_error: str) -> None:
        super().__init__(message)
        self.load_error = load_error


class ReportedCrash(Exception):
    """A plugin call that failed for a reason the caller is told (500 naming it): a
    sandbox worker over its memory limit; or, with ``retry_after``, workers backing off
    after repeated crashes (503: the caller may retry then)."""

    def __init__(self, message: str, error_code: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.retry_after = retry_after
