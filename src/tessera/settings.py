"""Every setting of the runtime, in one table.

The table feeds ``tessera serve --help`` (each setting is a flag and a ``TESSERA_*``
variable), the README's configuration reference and a docs test. Precedence, highest
first: command-line flag, environment variable, default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _csv(value: str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _mounts(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """``/app=web/dist`` pairs: a URL path starting with ``/`` and an existing folder."""
    pairs = _csv(value)
    for pair in pairs:
        prefix, _, folder = pair.partition("=")
        if not prefix.startswith("/") or not folder:
            raise ValueError(f"expected URL=FOLDER pairs such as /app=web/dist, got {pair!r}")
        if not Path(folder).is_dir():
            raise ValueError(f"{folder!r} is not a folder (in {pair!r})")
    return pairs


def _rate(value: str) -> str:
    if value:
        from tessera.governance.rates import parse_rate  # here: governance reads settings

        parse_rate(value)
    return value


def positive_int(value: str | int) -> int:
    """A whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return number


def _choice(*choices: str) -> Callable[[str], str]:
    def cast(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    cast.choices = choices  # type: ignore[attr-defined]
    return cast


@dataclass(frozen=True)
class Setting:
    """One configurable value: its name, environment variable, default and help."""

    name: str
    default: Any
    help: str
    cast: Callable[[Any], Any] = str
    flag: str | None = None

    @property
    def env(self) -> str:
        return "TESSERA_" + self.name.upper()

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def boolean(self) -> bool:
        """True for an on/off setting: a ``--name/--no-name`` flag pair on the command line."""
        return self.cast is _bool

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The values an enumerated setting accepts; None for any other."""
        return getattr(self.cast, "choices", None)

    @property
    def options(self) -> str:
        """How the setting is written on the command line: ``--reload/--no-reload``."""
        if self.boolean:
            return f"{self.option}/--no-{self.option[2:]}"
        return self.option


SETTINGS: tuple[Setting, ...] = (
    Setting("plugins", "plugins", "Folder holding one sub-folder per plugin.", Path),
    Setting("data", ".tessera", "Data folder: the embedded store and the token secret.", Path),
    Setting("host", "127.0.0.1", "Interface to listen on."),
    Setting("port", 8000, "TCP port to listen on.", int),
    Setting(
        "forwarded_allow_ips",
        ("127.0.0.1", "::1"),
        "Addresses of reverse proxies trusted to name the client in X-Forwarded-For "
        "(login rate limits), comma-separated.",
        _csv,
    ),
    Setting(
        "store_uri",
        "",
        "Document store: a file path or sqlite:///abs/path.db (embedded), sqlite://:memory:, "
        "or mongodb://... Empty means DATA/store.db.",
        flag="--store",
    ),
    Setting(
        "accounts_store_uri",
        "",
        "Store of local accounts, kept apart from app data: same forms as --store. Empty "
        "means DATA/accounts.db, or with a mongodb:// store the same server's "
        "_tessera_accounts database.",
        flag="--accounts-store",
    ),
    Setting(
        "redis_url",
        "",
        "Redis shared by every process of a cluster (redis://host:6379/0): WebSocket fan-out, "
        "events, rate limits, plugin switches. Empty: one process, in-process backends.",
    ),
    Setting(
        "workers",
        1,
        "Processes serving one port. Above 1 they share state through --redis-url if set, "
        "else through a file in the data folder (one machine, no other server).",
        int,
    ),
    Setting("app_id", "default", "App id for tokens that carry none."),
    Setting("app_name", "Tessera", "App name front ends show (GET /api/app-config)."),
    Setting("app_version", "1.0.0", "App version front ends show (GET /api/app-config)."),
    Setting(
        "app_env",
        "development",
        "Environment name front ends read as env from GET /api/app-config "
        "(development, staging, production...).",
    ),
    Setting(
        "auth_mode",
        "local",
        "Identity source: local accounts or an OIDC provider.",
        _choice("local", "oidc"),
    ),
    Setting("allow_registration", True, "Allow POST /api/auth/register (local mode).", _bool),
    Setting("token_ttl", 86400, "Lifetime in seconds of tokens issued in local mode.", int),
    Setting("oidc_jwks_url", "", "OIDC: URL of the provider's JWKS."),
    Setting("oidc_issuer", "", "OIDC: expected issuer (iss)."),
    Setting("oidc_audience", "", "OIDC: expected audience (aud)."),
    Setting(
        "oidc_algorithms", ("RS256", "ES256"), "OIDC: accepted algorithms, comma-separated.", _csv
    ),
    Setting("oidc_user_id_claim", "sub", "OIDC: claim holding the user id."),
    Setting("oidc_username_claim", "preferred_username", "OIDC: claim holding the username."),
    Setting("oidc_roles_claim", "roles", "OIDC: claim (dotted path allowed) holding roles."),
    Setting("oidc_superadmin_claim", "is_superadmin", "OIDC: claim marking a superadmin."),
    Setting("oidc_app_id_claim", "app_id", "OIDC: claim holding the app id."),
    Setting("oidc_plan_claim", "plan", "OIDC: claim holding the subscription plan."),
    Setting(
        "plans",
        "",
        "Plans file (the reference's subscription_config.json): turns on plans and each "
        "plugin's entitlements.yaml. Empty: every call allowed, _entitlements empty.",
    ),
    Setting(
        "plans_self_service",
        False,
        "Let users change or cancel their own plan (POST /api/update-subscription, "
        "/api/cancel-subscription); off: only admins and tessera plan set do.",
        _bool,
    ),
    Setting("plugin_timeout", 30.0, "Seconds a plugin call may run before it answers 504.", float),
    Setting("plugin_threads", 32, "Worker threads for synchronous plugins.", int),
    Setting("max_body_bytes", 1_048_576, "Largest request body accepted (413 above).", int),
    Setting(
        "max_response_bytes",
        10_485_760,
        "Largest plugin result sent; a larger one is a 500 naming the limit.",
        int,
    ),
    Setting(
        "rate_limit",
        "",
        "Default per-user rate limit of each plugin, as N/second|minute|hour|day; empty: none.",
        _rate,
    ),
    Setting("max_concurrency", 0, "Default cap on a plugin's calls in flight; 0: none.", int),
    Setting(
        "watchdog_threshold",
        0.5,
        "Seconds the event loop may stay blocked before the watchdog names the blocker; 0: off.",
        float,
    ),
    Setting(
        "cors_origins",
        (),
        "Origins allowed to call the API from a browser, comma-separated; empty: none.",
        _csv,
    ),
    Setting(
        "static",
        (),
        "Folders served as files for a front end, comma-separated URL=FOLDER pairs "
        "(e.g. /app=web/dist); the API's routes come first; empty: none.",
        _mounts,
    ),
    Setting(
        "error_mode",
        "tessera",
        "How plugin error dicts map to HTTP: 'tessera' (4xx, body unchanged) or "
        "'reference' (500 with {\"detail\": message}, as the reference runtime did; every "
        "error body of the runtime's own then carries detail too).",
        _choice("tessera", "reference"),
    ),
    Setting(
        "handler_timeout", 30.0, "Seconds an event handler may run before it is cancelled.", float
    ),
    Setting("ws_ping_interval", 20.0, "Seconds between WebSocket heartbeats.", float),
    Setting(
        "ws_ping_timeout",
        20.0,
        "Seconds a WebSocket client may take to answer a heartbeat or accept a message.",
        float,
    ),
    Setting(
        "ws_queue_size",
        256,
        "Messages waiting for one WebSocket before the slow client is disconnected.",
        int,
    ),
    Setting("ws_resume_messages", 1000, "Messages per user kept for WebSocket resume.", int),
    Setting("ws_resume_seconds", 86400.0, "Seconds messages are kept for WebSocket resume.", float),
    Setting(
        "isolation",
        "enforce",
        "Tenant isolation of plugin database calls: 'enforce' refuses queries not scoped to "
        "the caller's user_id, 'audit' logs them, 'off' disables the check; 'sandbox' "
        "enforces and also runs every plugin's code in confined worker processes.",
        _choice("enforce", "audit", "off", "sandbox"),
    ),
    Setting(
        "sandbox_workers",
        4,
        "Sandboxed plugins: worker processes one plugin may run at once; one user's calls "
        "hold at most half of them (at least one).",
        positive_int,
    ),
    Setting(
        "sandbox_total_workers",
        64,
        "Sandboxed plugins: worker processes of every plugin together; past it the idle "
        "one unused longest ends, and a call finding every one busy answers 503.",
        positive_int,
    ),
    Setting(
        "sandbox_memory_mb",
        512,
        "Sandboxed plugins: each worker's memory limit (address space), in MiB.",
        positive_int,
    ),
    Setting(
        "sandbox_escalation",
        (),
        "Sandboxed plugins allowed to escalate (db.as_admin(), other users in the "
        "services) for the callers their manifest's escalation_roles name and for "
        "superadmins, to receive callers' tokens (needs_user_jwt), to share collections "
        "and settings with other plugins and to hear the runtime's own events, "
        "comma-separated; any other sandboxed plugin may do none of it, and fails to load "
        "if it asks for tokens.",
        _csv,
    ),
    Setting(
        "sandbox_network",
        (),
        "Sandboxed plugins whose manifest's \"network\": true is granted (the host's network, "
        "services on localhost included), comma-separated; any other sandboxed plugin has "
        "no network.",
        _csv,
    ),
    Setting("reload", False, "Watch the plugins folder and reload changed plugins.", _bool),
    Setting("log_level", "info", "Log level.", _choice("debug", "info", "warning", "error")),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one runtime."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Plain attributes: read on every request, where __getattr__ alone cost 0.7 µs.
        self.__dict__.update(self.values)

    def __getattr__(self, name: str) -> Any:  # only for names that are not settings
        raise AttributeError(f"no setting named {name!r}")

    @property
    def store(self) -> str:
        """The store URI, defaulting to a file in the data folder."""
        return self.values["store_uri"] or str(Path(self.values["data"]) / "store.db")

    @property
    def accounts_store(self) -> str:
        """The accounts store URI: given, or beside the app store (see the setting)."""
        given = self.values["accounts_store_uri"]
        if given:
            return str(given)
        if self.store.startswith(("mongodb://", "mongodb+srv://", "sqlite://:memory:")):
            return self.store
        return str(Path(self.values["data"]) / "accounts.db")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Resolve every setting: ``overrides`` (flags) > environment > default."""
        environ = os.environ if environ is None else environ
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = set(overrides) - set(BY_NAME)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.name in overrides:
                raw, source = overrides[setting.name], setting.option
            elif setting.env in environ:
                raw, source = environ[setting.env], setting.env
            else:
                values[setting.name] = setting.default
                continue
            try:
                values[setting.name] = setting.cast(raw)
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        return cls(values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (already cast)."""
        return dataclasses.replace(self, values={**self.values, **changes})


def _flag_cell(setting: Setting) -> str:
    """The flag as ``--help`` shows it; pipes escaped, as a table cell needs."""
    if setting.boolean:
        return f"`{setting.option}`, `--no-{setting.option[2:]}`"
    if setting.choices:
        return f"`{setting.option} [{'|'.join(setting.choices)}]`".replace("|", "\\|")
    return f"`{setting.option}`"


def _default_cell(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    shown = ",".join(default) if isinstance(default, tuple) else str(default)
    return f"`{shown}`" if shown else "(none)"


def settings_markdown() -> str:
    """The configuration reference table of the README, generated from ``SETTINGS``."""
    rows = ["| Flag | Variable | Default | Meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        meaning = s.help.replace("|", "\\|")
        rows.append(f"| {_flag_cell(s)} | `{s.env}` | {_default_cell(s.default)} | {meaning} |")
    return "\n".join(rows)
