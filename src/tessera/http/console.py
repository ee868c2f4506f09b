"""``GET /docs``: a browser console to read the plugins' schemas and try their actions.

A static page; it reads ``/openapi.json`` with the token the user pastes, so it shows
nothing to anyone without one. Its inline script and style run under a per-response nonce.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

PAGE = (Path(__file__).parent / "console.html").read_text(encoding="utf-8")


async def console(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; frame-ancestors 'none'"
    )
    return HTMLResponse(
        PAGE.replace("{{NONCE}}", nonce), headers={"Content-Security-Policy": policy}
    )
