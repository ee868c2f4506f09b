"""``GET /openapi.json``: the API, with every plugin action and its schemas (OpenAPI 3.1).

Built from the routes Tessera serves and from the manifests of the loaded plugins, so it
changes when a plugin is reloaded. It lists the plugin registry, so it needs a signed-in
caller.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from tessera import __version__
from tessera.entitlements.spec import ActionRule
from tessera.http.caller import caller
from tessera.plugins.registry import Plugin
from tessera.services.notifications import MAX_OFFSET, MAX_PAGE

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT: dict[str, Any] = {"type": "object"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    answers = {"200": {"description": "Success", **_json(ok)}}
    for status in (401, *errors):
        answers[str(status)] = {"description": "Error", **_json(ERROR)}
    return answers


def _bounded(most: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": most}


def _operation(summary: str, ok: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": _responses(ok, *errors), **extra}


def _action_body(name: str, input_schema: dict[str, Any] | None) -> dict[str, Any]:
    tag = {"type": "object", "required": ["action"], "properties": {"action": {"const": name}}}
    return {"allOf": [tag, input_schema]} if input_schema else tag


def plugin_path(plugin: Plugin) -> dict[str, Any]:
    """The ``POST /api/execute/{name}`` operation of one plugin."""
    actions = plugin.manifest.actions
    if actions:
        body: dict[str, Any] = {"oneOf": [_action_body(n, a.input) for n, a in actions.items()]}
        outputs = [a.output for a in actions.values() if a.output]
        ok: dict[str, Any] = {"oneOf": outputs} if outputs else OBJECT
        details = "\n".join(f"- `{n}`: {a.description}" for n, a in actions.items())
    else:
        body, ok, details = OBJECT, OBJECT, "Actions are not declared in the manifest."
    operation: dict[str, Any] = {
        "summary": plugin.manifest.display_name,
        "description": f"{plugin.manifest.description}\n\n{details}".strip(),
        "tags": ["plugins"],
        "operationId": f"execute_{plugin.name}",
        "requestBody": {"required": True, **_json(body)},
        "responses": _responses(ok, 400, 403, 404, 413, 422, 429, 500, 504),
    }
    if plugin.entitlements is not None and plugin.entitlements.actions:
        rules = plugin.entitlements.actions
        operation["description"] += "\n\nEntitlements (entitlements.yaml):\n" + "\n".join(
            f"- `{name}`: {describe_rule(rule)}" for name, rule in rules.items()
        )
        operation["x-entitlements"] = {name: rule.describe() for name, rule in rules.items()}
    return {"post": operation}


def describe_rule(rule: ActionRule) -> str:
    """What an action requires and consumes, in a sentence."""
    parts = []
    if rule.requires_features:
        parts.append("requires " + ", ".join(f"`{f}`" for f in rule.requires_features))
    if rule.consumes:
        charged = ", ".join(f"{n} of `{k}`" for k, n in rule.consumes.items())
        parts.append(f"consumes {charged} when it succeeds")
    if rule.checks:
        parts.append("needs some " + ", ".join(f"`{k}`" for k in rule.checks) + " left")
    return "; ".join(parts) or "no requirement"


def _static_paths() -> dict[str, Any]:
    credentials = {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    }
    item = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    plugin = {"name": "plugin", "in": "path", "required": True, "schema": {"type": "string"}}
    public: dict[str, Any] = {"security": []}
    return {
        "/api/auth/register": {
            "post": _operation(
                "Create a local account",
                OBJECT,
                400,
                403,
                409,
                422,
                requestBody=_json(credentials),
                **public,
            )
        },
        "/api/auth/login": {
            "post": _operation(
                "Log in; returns a bearer token",
                OBJECT,
                400,
                requestBody=_json(credentials),
                **public,
            )
        },
        "/api/auth/token": {
            "post": _operation(
                "Log in with an OAuth2 password form (the reference's path)",
                OBJECT,
                400,
                413,
                422,
                requestBody={
                    "content": {"application/x-www-form-urlencoded": {"schema": credentials}}
                },
                **public,
            )
        },
        "/api/auth/me": {"get": _operation("The caller's identity", OBJECT)},
        "/api/auth/validate-token": {
            "get": _operation("Whether the token verifies: {valid, user_id, username}", OBJECT)
        },
        "/api/app-config": {
            "get": {
                "summary": "App name, version, env and monetization_enabled",
                "security": [],
                "responses": {"200": {"description": "Success", **_json(OBJECT)}},
            }
        },
        "/api/settings-config": {"get": _operation("The profile form's sections", OBJECT)},
        "/api/user-profile": {
            "get": _operation("The caller's profile with plugin_settings", OBJECT)
        },
        "/api/update-profile": {
            "post": _operation(
                "Change the caller's editable profile fields",
                OBJECT,
                400,
                413,
                422,
                requestBody=_json(OBJECT),
            )
        },
        "/api/notifications/config": {
            "get": _operation("Declared notification types and the caller's choices", OBJECT)
        },
        "/api/plugins": {"get": _operation("Plugins the caller can see", OBJECT)},
        "/api/notifications": {
            "get": _operation(
                "The caller's notifications, newest first",
                OBJECT,
                400,
                parameters=[
                    {"name": "unread_only", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "limit", "in": "query", "schema": _bounded(MAX_PAGE)},
                    {"name": "offset", "in": "query", "schema": _bounded(MAX_OFFSET)},
                ],
            )
        },
        "/api/notifications/count": {"get": _operation("Unread count", OBJECT)},
        "/api/notifications/mark-all-read": {"post": _operation("Mark all read", OBJECT)},
        "/api/notifications/preferences": {
            "get": _operation("Per-type preferences", OBJECT),
            "post": _operation("Change preferences", OBJECT, 400, 422, requestBody=_json(OBJECT)),
        },
        "/api/notifications/{id}/read": {
            "post": _operation("Mark one read", OBJECT, 404, parameters=[item])
        },
        "/api/notifications/{id}": {
            "delete": _operation("Delete one", OBJECT, 404, parameters=[item])
        },
        "/api/plugin-settings/{plugin}": {
            "get": _operation(
                "The caller's settings of a plugin", OBJECT, 404, parameters=[plugin]
            ),
            "post": _operation(
                "Save the caller's settings of a plugin",
                OBJECT,
                400,
                404,
                413,
                422,
                parameters=[plugin],
                requestBody=_json(OBJECT),
            ),
        },
        "/health": {
            "get": {
                "summary": "Liveness, with each dependency's state",
                "security": [],
                "responses": {"200": {"description": "Alive"}, "503": {"description": "Starting"}},
            }
        },
        "/health/ready": {
            "get": {
                "summary": "Readiness: 503 naming each dependency that is not ok",
                "security": [],
                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}},
            }
        },
    }


def openapi_document(plugins: list[Plugin]) -> dict[str, Any]:
    """The whole document for the given (loaded, enabled) plugins."""
    paths = _static_paths()
    for plugin in plugins:
        paths[f"/api/execute/{plugin.name}"] = plugin_path(plugin)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tessera", "version": __version__},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "error_code": {"type": "string"},
                        "request_id": {"type": "string"},
                        "field": {"type": "string"},
                    },
                }
            },
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    await caller(request)
    registry = request.app.state.runtime.plugins
    callable_plugins = [p for p in registry if p.code is not None and p.enabled]
    return JSONResponse(openapi_document(callable_plugins))
