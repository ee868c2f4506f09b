"""The ``tessera`` command: serve plugins, mint development tokens."""

from __future__ import annotations

import errno
import gc
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tessera.settings import BY_NAME, SETTINGS, Setting, Settings, positive_int

# A server holding thousands of WebSockets keeps most of its objects for hours, and a full
# collection walks all of them (0.2-0.5 s each at 5,000 sockets). The collector's default
# considers one every 10 middle-generation passes, once a quarter more objects have
# survived: 13 pauses while 5,000 sockets connect and reconnect. Every 100 passes: one.
FULL_COLLECTION_EVERY = 100
# A thread holding the GIL (a plugin's pure-Python loop, a store job decoding rows) keeps
# it for the switch interval while the event loop waits: at the default 5 ms every other
# caller's answer queues behind it (p99 0.9 s under bench/freeze.py); at 1 ms, 0.1 s.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Space out full collections and share the GIL finely, for a long-running server."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _option(setting: Setting) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option for one setting, typed so click refuses a bad value itself; the env
    var and default show in ``--help``. Unset, it stays None: ``Settings.load`` then reads
    the env var, with the same parsing as every process of ``--workers``."""
    return click.option(
        setting.options,
        setting.name,
        type=_click_type(setting),
        default=None,
        help=f"{setting.help} [env: {setting.env}; default: {_shown(setting.default)}]",
    )


def _click_type(setting: Setting) -> click.ParamType | None:
    if setting.boolean:
        return None  # a --name/--no-name pair is a boolean flag
    if setting.choices:
        return click.Choice(setting.choices)
    if setting.cast is Path:
        # Serving a plugins folder that does not exist would serve nothing, without a word.
        return click.Path(exists=setting.name == "plugins", file_okay=False)
    if setting.cast in (int, float):
        return click.INT if setting.cast is int else click.FLOAT
    if setting.cast is positive_int:
        return click.IntRange(min=1)
    return _Checked(setting) if setting.cast is not str else click.STRING


class _Checked(click.ParamType):
    """Text checked by the setting's own parser, so a bad value is click's usage error; the
    text itself is passed on, as the environment would give it."""

    name = "text"

    def __init__(self, setting: Setting) -> None:
        self.setting = setting

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            self.setting.cast(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default) if default != "" else "none"


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings.load(overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for setting in reversed(SETTINGS):
        func = _option(setting)(func)
    return func


@click.group()
@click.version_option(package_name="tessera-runtime", prog_name="tessera")
def main() -> None:
    """Tessera: a fast, safe runtime for MozaiksCore-contract plugins."""


@main.command()
@setting_options
def serve(**overrides: Any) -> None:
    """Serve the plugins of a folder over HTTP and WebSocket.

    With no options: the plugins in ./plugins, the embedded store and token secret in
    ./.tessera, on http://127.0.0.1:8000.
    """
    import uvicorn

    from tessera.context import configure_logging
    from tessera.http.app import create_app
    from tessera.http.listener import loop_option
    from tessera.runtime import Runtime

    settings = _settings(overrides)
    refuse_missing_plugins(settings)
    refuse_busy_port(settings.host, settings.port)
    configure_logging(settings.log_level)
    tune_interpreter()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,  # no "server: uvicorn": nothing to fingerprint, one header less
        "proxy_headers": False,  # resolved by the routes that read the client's address
        "lifespan": "on",
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
    }
    if settings.workers > 1:
        from tessera.cluster.shared import prepare_workers

        prepare_workers(settings)
        # Each worker builds its settings from the environment, as cluster_app shows.
        os.environ.update(
            {
                BY_NAME[name].env: str(value)
                for name, value in overrides.items()
                if value is not None
            }
        )
        uvicorn.run("tessera.cli:cluster_app", factory=True, workers=settings.workers, **options)
        return
    # uvloop taking every waiting connection at once, not one a turn of the loop.
    options["loop"] = loop_option()
    uvicorn.run(create_app(Runtime(settings)), **options)


def refuse_missing_plugins(settings: Settings) -> None:
    """Refuse a plugins folder that does not exist, from the environment or the default too:
    the server would start and serve nothing, without a word."""
    if not Path(settings.plugins).is_dir():
        source = "TESSERA_PLUGINS" if "TESSERA_PLUGINS" in os.environ else "the default"
        raise click.UsageError(
            f"no plugins folder {str(settings.plugins)!r} ({source}): create it, or name "
            "yours with --plugins DIR"
        )


def refuse_busy_port(host: str, port: int) -> None:
    """Stop in one line when the address is taken. uvicorn would find out only after the
    app started, and end its log with the app's shutdown lines."""
    # The socket uvicorn binds: the family from the host, SO_REUSEADDR set.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is in use: stop what listens there, or choose "
                    "another port with --port N"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None


def cluster_app() -> Any:
    """The application of one ``serve --workers`` process, configured by the environment."""
    from tessera.context import configure_logging
    from tessera.http.app import create_app
    from tessera.runtime import Runtime

    settings = Settings.load()
    configure_logging(settings.log_level)
    tune_interpreter()
    return create_app(Runtime(settings))


@main.command()
@click.argument("user_id")
@click.option("--username", help="Username in the token (default: the user id).")
@click.option("--role", "roles", multiple=True, help="A role; repeat for several.")
@click.option("--superadmin", is_flag=True, help="Mark the user as a superadmin.")
@click.option("--app", "app_id", help="App id in the token (default: the server's app id).")
@click.option("--ttl", type=int, help="Lifetime in seconds (default: TESSERA_TOKEN_TTL).")
@click.option(
    "--plan", help="Subscription plan in the token (default: none, see docs/entitlements.md)."
)
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    help="The server's data folder: its secret signs the token (one is created, with a "
    "warning, if the folder has none). [env: TESSERA_DATA; default: .tessera]",
)
def token(
    user_id: str,
    username: str | None,
    roles: tuple[str, ...],
    superadmin: bool,
    app_id: str | None,
    ttl: int | None,
    plan: str | None,
    data: str | None,
) -> None:
    """Print a token for USER_ID, accepted by a server using the same data folder.

    Pass the server's --data: a token is signed with the secret in that folder.
    """
    from tessera.auth.secret import SECRET_FILENAME
    from tessera.datafolder import private_data_folder
    from tessera.runtime import local_tokens

    settings = _settings({"data": data})
    folder = Path(settings.data)
    fresh = not (folder / SECRET_FILENAME).exists()
    private_data_folder(folder)  # as the server leaves it
    issued = local_tokens(settings).issue(
        user_id,
        username=username,
        roles=roles,
        superadmin=superadmin,
        app_id=app_id,
        ttl_seconds=ttl,
        plan=plan,
    )
    if fresh:
        # A mistyped or forgotten --data would otherwise mint tokens no server accepts.
        click.echo(
            f"tessera: created a new token secret in {folder.resolve()}: only a server "
            f"started with --data {folder} accepts this token.",
            err=True,
        )
    click.echo(issued)


@main.group()
def plan() -> None:
    """Users' subscription plans, in the data folder's store (docs/entitlements.md)."""


@plan.command("set")
@click.argument("user_id")
@click.argument("plan_name", metavar="PLAN")
@click.option("--app", "app_id", help="The user's app id (default: the server's app id).")
@click.option("--trial-days", type=click.IntRange(min=0), help="A trial of PLAN ending then.")
@click.option("--data", type=click.Path(file_okay=False), help="The server's data folder.")
@click.option("--store", "store_uri", help="The server's --store, when not in the data folder.")
@click.option("--plans", type=click.Path(exists=True, dir_okay=False), help="The plans file.")
def plan_set(
    user_id: str,
    plan_name: str,
    app_id: str | None,
    trial_days: int | None,
    data: str | None,
    store_uri: str | None,
    plans: str | None,
) -> None:
    """Put USER_ID on PLAN from the next call (a token's plan claim still wins)."""
    import asyncio

    from tessera.entitlements.errors import EntitlementsUnavailable
    from tessera.entitlements.setup import set_plan_offline

    settings = _settings({"data": data, "store_uri": store_uri, "plans": plans})
    if not settings.plans:
        raise click.UsageError("Name the plans file: --plans FILE or TESSERA_PLANS.")
    try:
        standing = asyncio.run(set_plan_offline(settings, user_id, plan_name, app_id, trial_days))
    except (ValueError, EntitlementsUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{user_id}: {standing.plan} ({standing.status})")


@main.command()
@click.argument("path", default="plugins", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: path:line:col lines for people; json: a list of findings for tools.",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too, not only on errors.")
def check(path: str, output: str, strict: bool) -> None:
    """Check plugins against the contract's rules without running them.

    PATH is a plugin folder or a folder of plugins (default: ./plugins). Exits 1 when an
    error is found, or a warning with --strict.
    """
    from tessera.check import check_path

    try:
        report = check_path(Path(path))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(report.json() if output == "json" else report.text())
    if report.failed(strict):
        raise SystemExit(1)


@main.group()
def new() -> None:
    """Create something new from a template."""


@new.command("plugin")
@click.argument("name")
@click.option(
    "--dir",
    "plugins_dir",
    default="plugins",
    show_default=True,
    help="The plugins folder to create it in.",
)
def new_plugin_command(name: str, plugins_dir: str) -> None:
    """Create plugins_dir/NAME: a contract plugin with a manifest and tests."""
    from tessera.scaffold import ScaffoldError, new_plugin

    try:
        written = new_plugin(name, Path(plugins_dir))
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"created {path}")
    click.echo(
        f"next: tessera check {Path(plugins_dir) / name} && pytest {Path(plugins_dir) / name}"
    )
