"""The ASGI application: routes, middleware and the one JSON error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tessera.context import current_request_id
from tessera.http.admin import admin_routes
from tessera.http.auth import auth_routes
from tessera.http.console import console
from tessera.http.errors import HTTPError
from tessera.http.execute import ExecuteEndpoint, is_execute
from tessera.http.health import health, metrics, ready
from tessera.http.middleware import RequestContextMiddleware
from tessera.http.notifications import notification_routes
from tessera.http.openapi import openapi_json
from tessera.http.plugin_settings import plugin_settings_routes
from tessera.http.plugins import list_plugins
from tessera.http.reference import reference_routes
from tessera.http.static import static_routes
from tessera.http.subscriptions import subscription_routes
from tessera.http.websocket import SocketEndpoint, socket_hint
from tessera.runtime import Runtime

_STARLETTE_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


def error_body(message: str, code: str, *, detail: bool = False) -> dict[str, str]:
    body = {"error": message, "error_code": code, "request_id": current_request_id.get()}
    if detail:
        body["detail"] = message
    return body


def reference_errors(request: Request) -> bool:
    """Whether error bodies also carry ``detail``, as the reference's front ends read."""
    return bool(request.app.state.runtime.settings.error_mode == "reference")


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    body = exc.encoded(detail=reference_errors(request))
    return Response(body, exc.status_code, exc.headers, media_type="application/json")


async def on_starlette_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method, malformed form) in our shape."""
    assert isinstance(exc, HTTPException)
    code = _STARLETTE_CODES.get(exc.status_code, "http_error")
    body = error_body(str(exc.detail), code, detail=reference_errors(request))
    return JSONResponse(body, exc.status_code, headers=exc.headers)


def cors_options(runtime: Runtime) -> dict[str, Any] | None:
    """The CORS middleware's options; None when no origin is configured."""
    origins = runtime.settings.cors_origins
    if not origins:
        return None
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
        "expose_headers": ["X-Request-ID", "Retry-After"],
        "max_age": 600,
    }


class Application:
    """Tessera's ASGI application.

    ``/api/execute/{plugin}`` carries every front-end interaction, so it goes straight to
    its endpoint (through CORS when origins are configured); the WebSockets go straight to
    theirs, which they hold for hours. Every other request goes through Starlette: its
    router, its error handling and the request context middleware.
    """

    def __init__(self, runtime: Runtime) -> None:
        cors = cors_options(runtime)
        execute: ASGIApp = ExecuteEndpoint(runtime)
        self.execute = CORSMiddleware(execute, **cors) if cors is not None else execute
        self.sockets = SocketEndpoint(runtime)
        self.routes = routes_app(runtime, cors)
        self.state = self.routes.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_execute(scope):
            await self.execute(scope, receive, send)
        elif socket_hint(scope) is not None:
            await self.sockets(scope, receive, send)
        else:
            await self.routes(scope, receive, send)


def routes_app(runtime: Runtime, cors: dict[str, Any] | None) -> Starlette:
    """Every route but the execute and WebSocket ones; starts and stops the runtime."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes = [
        Route("/api/plugins", list_plugins, methods=["GET"]),
        Route("/api/available-plugins", list_plugins, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", console, methods=["GET"]),
        *auth_routes(),
        *reference_routes(),
        *admin_routes(),
        *notification_routes(),
        *plugin_settings_routes(),
        *subscription_routes(),
        # Last: a front end served at / answers what no route above does.
        *static_routes(runtime.settings.static),
    ]
    # The client's address matters only here (login rate limits): the server leaves
    # X-Forwarded-For alone (see `tessera serve`), and this resolves it for these routes.
    proxies = list(runtime.settings.forwarded_allow_ips)
    middleware = [
        Middleware(ProxyHeadersMiddleware, trusted_hosts=proxies),
        Middleware(RequestContextMiddleware, detail=runtime.settings.error_mode == "reference"),
    ]
    if cors is not None:
        middleware.append(Middleware(CORSMiddleware, **cors))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPError: on_http_error,
            HTTPException: on_starlette_error,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app


def create_app(runtime: Runtime) -> Application:
    """The HTTP and WebSocket application serving ``runtime``; starts and stops it."""
    return Application(runtime)
