"""The CLI interface outside checks rely on: `tessera serve` and `tessera token`."""

from __future__ import annotations

import gc
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tessera.cli import FULL_COLLECTION_EVERY, cluster_app, main, serve
from tessera.settings import Settings
from tests.conftest import EXAMPLES

TESSERA = [sys.executable, "-m", "tessera"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tessera serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("tessera serve did not become healthy")


def test_serve_and_token_share_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [
            *TESSERA,
            "serve",
            "--plugins",
            str(EXAMPLES),
            "--data",
            str(data),
            "--host",
            "127.0.0.1",
            "--reload",
            "--port",
            str(port),
            "--no-allow-registration",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        token = subprocess.run(
            [*TESSERA, "token", "carol", "--role", "editor", "--data", str(data)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{url}/api/execute/notes",
            headers=headers,
            json={"action": "create", "title": "from the CLI"},
        )
        assert created.status_code == 200, created.text
        assert "server" not in created.headers  # nothing to fingerprint
        me = httpx.get(f"{url}/api/auth/me", headers=headers).json()
        assert me["user_id"] == "carol"
        assert me["roles"] == ["editor"]
        # Flags took effect: registration is off.
        registered = httpx.post(
            f"{url}/api/auth/register", json={"username": "zed", "password": "p" * 12}
        )
        assert registered.status_code == 403, registered.text
        # A token of another data folder (a mistyped --data) says what signs tokens.
        stray = subprocess.run(
            [*TESSERA, "token", "carol", "--data", str(tmp_path / "dtaa")],
            check=True,
            capture_output=True,
            text=True,
        )
        assert str(tmp_path / "dtaa") in stray.stderr  # warned: a new secret
        refused = httpx.get(
            f"{url}/api/auth/me", headers={"Authorization": f"Bearer {stray.stdout.strip()}"}
        )
        assert refused.status_code == 401
        assert "signed by the secret in the server's data folder" in refused.text
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_token_verifies_after_a_restart_because_the_secret_is_kept(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    result = CliRunner().invoke(main, ["token", "dave", "--app", "shop", "--data", data])
    assert result.exit_code == 0
    from tessera.runtime import local_tokens
    from tessera.settings import Settings

    restarted = local_tokens(Settings.load({"data": data}, environ={}))
    identity = restarted.verify(result.stdout.strip())
    assert (identity.user_id, identity.app_id) == ("dave", "shop")


def serve_params(*args: str) -> dict:
    """What ``tessera serve ARGS`` parses to, by click's own parser, before anything runs."""
    return serve.make_context("serve", list(args)).params


def test_serve_options_parse_as_a_user_types_them(tmp_path: Path) -> None:
    params = serve_params("--reload", "--port", "8011", "--isolation", "audit")
    assert (params["reload"], params["port"], params["isolation"]) == (True, 8011, "audit")
    settings = Settings.load(params, environ={})
    assert (settings.reload, settings.port, settings.isolation) == (True, 8011, "audit")
    assert serve_params("--no-allow-registration", "--plugin-timeout", "2.5") == {
        **serve_params(),
        "allow_registration": False,
        "plugin_timeout": 2.5,
    }
    # Unset flags stay None, so the environment still applies, with the same parsing.
    environ = {"TESSERA_RELOAD": "yes", "TESSERA_PORT": "9000", "TESSERA_ISOLATION": "off"}
    from_env = Settings.load(serve_params(), environ=environ)
    assert (from_env.reload, from_env.port, from_env.isolation) == (True, 9000, "off")
    assert Settings.load(serve_params("--no-reload"), environ=environ).reload is False


def test_serve_help_shows_flags_numbers_and_choices() -> None:
    help_text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    assert "--reload / --no-reload" in help_text
    assert "--allow-registration / --no-allow-registration" in help_text
    assert "--port INTEGER" in help_text
    assert "--plugin-timeout FLOAT" in help_text
    assert "--isolation [enforce|audit|off|sandbox]" in help_text
    assert "--log-level [debug|info|warning|error]" in help_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "eighty"], "Invalid value for '--port': 'eighty' is not a valid integer."),
        (["--plugin-timeout", "soon"], "Invalid value for '--plugin-timeout'"),
        (["--isolation", "strict"], "Invalid value for '--isolation': 'strict' is not one of"),
        (["--rate-limit", "5/fortnight"], "Invalid value for '--rate-limit': rate limit"),
        (["--reload", "true"], "unexpected extra argument (true)"),
        (["--plugins", "nodir"], "Invalid value for '--plugins': Directory 'nodir' does not"),
        (["--sandbox-workers", "0"], "Invalid value for '--sandbox-workers': 0 is not in the"),
    ],
)
def test_a_bad_option_is_clicks_usage_error(tmp_path: Path, args: list[str], message: str):
    result = CliRunner().invoke(main, ["serve", "--data", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_bad_environment_variable_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--data", str(tmp_path)], env={"TESSERA_PORT": "eighty"}
    )
    assert result.exit_code == 2
    assert "TESSERA_PORT: invalid literal" in result.output
    zero = CliRunner().invoke(
        main, ["serve", "--data", str(tmp_path)], env={"TESSERA_SANDBOX_MEMORY_MB": "0"}
    )
    assert zero.exit_code == 2
    assert "TESSERA_SANDBOX_MEMORY_MB: expected a whole number of at least 1" in zero.output


def test_a_missing_plugins_folder_from_the_environment_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--data", str(tmp_path)],
        env={"TESSERA_PLUGINS": str(tmp_path / "nodir")},
    )
    assert result.exit_code == 2
    assert "no plugins folder" in result.output
    assert "TESSERA_PLUGINS" in result.output


def test_a_port_in_use_ends_with_a_one_line_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        port_args = ["--port", str(port)]
        result = subprocess.run(
            [*TESSERA, "serve", "--plugins", str(EXAMPLES), "--data", str(tmp_path), *port_args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"port {port} on 127.0.0.1 is in use" in last
    assert "--port" in last
    assert "startup" not in result.stderr  # stopped before the app started


def test_serving_processes_space_out_full_garbage_collections(monkeypatch, tmp_path):
    import uvicorn

    before = gc.get_threshold()
    seen = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.append(gc.get_threshold()))
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path))
    try:
        gc.set_threshold(700, 10, 10)  # Python's defaults
        result = CliRunner().invoke(
            main, ["serve", "--plugins", str(EXAMPLES), "--port", str(free_port())]
        )
        assert result.exit_code == 0, result.output
        gc.set_threshold(700, 10, 10)
        cluster_app()  # each process of `serve --workers`
        seen.append(gc.get_threshold())
    finally:
        gc.set_threshold(*before)
    assert seen == [(700, 10, FULL_COLLECTION_EVERY)] * 2


def test_serve_leaves_forwarded_headers_to_the_routes_that_read_them(monkeypatch, tmp_path):
    import uvicorn

    options = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: options.update(kwargs))
    monkeypatch.setenv("TESSERA_DATA", str(tmp_path))
    result = CliRunner().invoke(
        main, ["serve", "--plugins", str(EXAMPLES), "--port", str(free_port())]
    )
    assert result.exit_code == 0, result.output
    # uvicorn's own pass would rewrite every request; http/app.py does it for its routes.
    assert options["proxy_headers"] is False
    assert options["server_header"] is False


def test_token_warns_when_it_creates_a_new_secret(tmp_path: Path) -> None:
    data = tmp_path / "dta"  # a mistyped --data
    first = CliRunner().invoke(main, ["token", "erin", "--data", str(data)])
    assert first.exit_code == 0, first.output
    assert f"created a new token secret in {data}" in first.stderr
    assert "--data" in first.stderr
    assert first.stdout.count(".") == 2  # stdout is the token alone, for $(...)
    again = CliRunner().invoke(main, ["token", "erin", "--data", str(data)])
    assert again.stderr == ""


def test_token_creates_the_data_folder_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["token", "erin", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()} == {
        "token_secret": 0o600
    }


def test_token_tightens_a_loose_data_folder(tmp_path: Path, caplog) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    (data / "token_secret").write_text("s" * 64)
    (data / "token_secret").chmod(0o644)
    result = CliRunner().invoke(main, ["token", "erin", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "token_secret").stat().st_mode) == 0o600
    assert any(r.name == "tessera.data" for r in caplog.records)
