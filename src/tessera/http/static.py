"""``--static URL=FOLDER``: a front end's files, served beside the API by the same server.

One origin for the page and the API means no CORS to configure and a WebSocket that
``connect-src 'self'`` allows. The mounts come after every API route, longest URL first,
so ``/app/client`` is found before ``/app``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

# In place of the API's "default-src 'none'" and "no-store" (see middleware.py): a page
# loads its own scripts, styles and images, and revalidates them by ETag.
PAGE_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
    (b"cache-control", b"no-cache"),
)


class FrontEnd:
    """The files of one folder, with the headers a page needs."""

    def __init__(self, folder: str) -> None:
        self.files = StaticFiles(directory=folder, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *PAGE_HEADERS]
            await send(message)

        await self.files(scope, receive, send_with_headers)


def static_routes(pairs: Iterable[str]) -> list[BaseRoute]:
    """A mount per ``URL=FOLDER`` pair (the ``static`` setting checked their form)."""
    mounts = [pair.partition("=")[::2] for pair in pairs]
    mounts.sort(key=lambda mount: len(mount[0]), reverse=True)
    return [Mount(prefix.rstrip("/"), app=FrontEnd(folder)) for prefix, folder in mounts]
