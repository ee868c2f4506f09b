"""No token in the log: query parameters naming secrets are redacted on every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from uvicorn.logging import AccessFormatter
from websockets.asyncio.client import connect

from tessera.context import UVICORN_LOGGERS, configure_logging
from tessera.redaction import REDACTED, redact


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """The log as `tessera serve` configures it, into a buffer; put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    saved_filters = {name: logging.getLogger(name).filters[:] for name in UVICORN_LOGGERS}
    log = io.StringIO()
    configure_logging("info", stream=log)
    yield log
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, filters in saved_filters.items():
        logging.getLogger(name).filters[:] = filters


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '1.2.3.4 - "WebSocket /ws?access_token=abc.def" [accepted]',
            f'1.2.3.4 - "WebSocket /ws?access_token={REDACTED}" [accepted]',
        ),
        ("/ws?last_seq=3&access_token=abc&x=1", f"/ws?last_seq=3&access_token={REDACTED}&x=1"),
        ("/ws?token=abc", f"/ws?token={REDACTED}"),
        ("/ws?access%5Ftoken=abc", f"/ws?access%5Ftoken={REDACTED}"),  # as the server reads it
        ("/cb?client_secret=abc;password=pw", f"/cb?client_secret={REDACTED};password={REDACTED}"),
        ("/api/notifications?limit=10&skip=5", "/api/notifications?limit=10&skip=5"),
        ("not a query: token=abc", "not a query: token=abc"),
        # JSON Web Tokens, wherever they are: a plugin's data holds its caller's.
        (
            "{'user_jwt': 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln', 'x': 1}",
            f"{{'user_jwt': '{REDACTED}', 'x': 1}}",
        ),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", f"Bearer {REDACTED}"),
        ("eyJust a word. Not.a token", "eyJust a word. Not.a token"),
    ],
)
def test_secret_query_parameters_are_redacted_and_the_rest_kept(line, expected):
    assert redact(line) == expected


async def test_a_websocket_token_in_the_query_never_reaches_the_log(serve, corpus, server_log):
    live = serve(corpus)
    token = live.token("alice")
    url = live.url.replace("http://", "ws://") + f"/ws?access_token={token}&last_seq=0"
    async with connect(url) as socket:
        assert json.loads(await socket.recv())["type"] == "connected"
    # uvicorn's access log (on in this test server) writes plain requests too.
    httpx.get(f"{live.url}/api/auth/me?access_token={token}")
    log = server_log.getvalue()
    assert f"access_token={REDACTED}" in log  # the lines were written...
    assert token not in log  # ...without the token
    assert token.split(".")[2] not in log  # not even its signature


def test_an_access_log_with_its_own_handler_is_redacted_too(server_log):
    # As uvicorn's logging configuration sets it up when an operator turns the access log
    # on: a handler of its own, not propagating to the root.
    access = logging.getLogger("uvicorn.access")
    own = io.StringIO()
    handler = logging.StreamHandler(own)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    saved = access.handlers[:], access.propagate
    access.handlers[:], access.propagate = [handler], False
    try:
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "203.0.113.5:4321",
            "GET",
            "/ws?access_token=eyJ.secret.sig",
            "1.1",
            101,
        )
    finally:
        access.handlers[:], access.propagate = saved
    assert f"/ws?access_token={REDACTED} HTTP/1.1" in own.getvalue()
    assert "secret" not in own.getvalue()


def test_a_secret_in_the_format_of_a_line_is_redacted_with_its_argument(server_log):
    logging.getLogger("mozaiks_plugins.caller").warning("fetched /api?api_key=%s&page=%d", "k3y", 2)
    assert f"fetched /api?api_key={REDACTED}&page=2" in server_log.getvalue()
    assert "k3y" not in server_log.getvalue()


LEAKY = """
import logging

logger = logging.getLogger("mozaiks_plugins.leaky")


async def execute(data):
    logger.info("called with %s", data)
    logger.warning("calling the billing service as " + data["user_jwt"])
    raise RuntimeError(f"billing refused token {data['user_jwt']}")
"""


def test_the_token_a_plugin_receives_never_reaches_the_log(serve, tmp_path, server_log):
    folder = tmp_path / "plugins" / "leaky"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"needs_user_jwt": true}')
    (folder / "logic.py").write_text(LEAKY)
    live = serve(tmp_path / "plugins")
    token = live.token("alice")
    response = httpx.post(
        f"{live.url}/api/execute/leaky", json={"q": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 500
    log = server_log.getvalue()
    assert "'user_jwt': '[redacted]'" in log  # the lines were written...
    assert "RuntimeError: billing refused token [redacted]" in log
    assert "calling the billing service as [redacted]" in log
    for part in token.split(".")[1:]:
        assert part not in log  # ...without the token's claims or signature
