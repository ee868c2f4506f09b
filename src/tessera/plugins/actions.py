"""Typed actions: JSON Schemas a manifest declares for each action's input and output.

```json
"actions": {
  "create": {
    "description": "Add an item.",
    "input": {"type": "object", "required": ["title"],
              "properties": {"title": {"type": "string", "minLength": 1}}},
    "output": {"type": "object", "properties": {"id": {"type": "string"}}}
  }
}
```

The runtime validates a call's input against its action's schema before the plugin runs
(422 naming the failing field); the schemas also describe the plugin in ``/openapi.json``.
Actions a manifest does not declare reach the plugin unchecked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tessera.plugins.errors import ManifestError

INJECTED = frozenset({"user_id", "app_id", "_context", "_entitlements"})


class InvalidInput(Exception):
    """A call's input does not match its action's schema."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Action:
    """One declared action: its description and compiled schemas."""

    name: str
    description: str = ""
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    validator: Draft202012Validator | None = field(default=None, compare=False, repr=False)

    def validate(self, payload: Mapping[str, Any]) -> None:
        """Raise InvalidInput for the first error, naming the field as a dotted path."""
        if self.validator is None:
            return
        data = {k: v for k, v in payload.items() if k not in INJECTED}
        error = next(iter(sorted(self.validator.iter_errors(data), key=_error_order)), None)
        if error is None:
            return
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = next(
                (name for name in error.validator_value if name not in error.instance), ""
            )
            path = f"{path}.{missing}" if path else missing
        raise InvalidInput(f"{path or 'input'}: {error.message}", path or "input")


def _error_order(error: Any) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))


#: Digests of the schemas already found valid. Checking a schema against the 2020-12
#: meta-schema costs about a millisecond, most of loading a plugin, and schemas recur
#: across plugins (``tessera new plugin`` gives each the same ones) and within one.
_VALID_SCHEMAS: set[bytes] = set()


def check_schema(schema: Any) -> None:
    """``Draft202012Validator.check_schema``, done once per distinct valid schema.

    The key is the schema's repr, exact for JSON's types (``1``, ``1.0`` and ``True``
    differ, as do a list and a tuple). Only successes are remembered, so an invalid schema
    raises the same SchemaError every time."""
    key = hashlib.blake2b(repr(schema).encode()).digest()
    if key not in _VALID_SCHEMAS:
        Draft202012Validator.check_schema(schema)
        _VALID_SCHEMAS.add(key)


def parse_actions(raw: Any) -> dict[str, Action]:
    """Validate a manifest's ``actions`` object and compile each input schema."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ManifestError("manifest key 'actions' must be an object of action name -> spec")
    actions = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise ManifestError(f"manifest action {name!r} must be an object")
        schemas = {key: spec.get(key) for key in ("input", "output")}
        for key, schema in schemas.items():
            if schema is None:
                continue
            try:
                check_schema(schema)
            except SchemaError as exc:
                raise ManifestError(
                    f"manifest action {name!r}: {key} is not a valid JSON Schema: {exc.message}"
                ) from None
        validator = Draft202012Validator(schemas["input"]) if schemas["input"] else None
        actions[name] = Action(
            name, str(spec.get("description", "")), schemas["input"], schemas["output"], validator
        )
    return actions
