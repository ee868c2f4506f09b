"""The ASGI application: routes, middleware and the one JSON error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tessera.context import current_request_id
from tessera.http.admin import admin_routes
from tessera.http.auth import auth_routes
from tessera.http.console import console
from tessera.http.errors import HTTPError
from tessera.http.execute import ExecuteRoute
from tessera.http.health import health, metrics
from tessera.http.middleware import RequestContextMiddleware
from tessera.http.notifications import notification_routes
from tessera.http.openapi import openapi_json
from tessera.http.plugin_settings import plugin_settings_routes
from tessera.http.plugins import list_plugins
from tessera.http.websocket import websocket_routes
from tessera.runtime import Runtime


def error_body(message: str, code: str) -> dict[str, str]:
    return {"error": message, "error_code": code, "request_id": current_request_id.get()}


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return Response(exc.encoded(), exc.status_code, exc.headers, media_type="application/json")


async def on_starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(str(exc.detail), code), exc.status_code, headers=exc.headers)


def middleware(runtime: Runtime) -> list[Middleware]:
    """Request context and security headers always; CORS only for configured origins; then
    the execute route, ahead of the router."""
    settings = runtime.settings
    stack = [Middleware(RequestContextMiddleware)]
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        )
    stack.append(Middleware(ExecuteRoute, runtime=runtime))
    return stack


def create_app(runtime: Runtime) -> Starlette:
    """The HTTP and WebSocket application serving ``runtime``; starts and stops it."""

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
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", console, methods=["GET"]),
        *auth_routes(),
        *admin_routes(),
        *notification_routes(),
        *plugin_settings_routes(),
        *websocket_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware(runtime),
        exception_handlers={
            HTTPError: on_http_error,
            HTTPException: on_starlette_error,
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
