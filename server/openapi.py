"""The OpenAPI document, made valid OpenAPI 3.0.

sanic-ext embeds the JSON Schema pydantic writes (2020-12) in a 3.0 document: ``$defs`` inside
operations that nothing resolves, ``anyOf [X, null]`` instead of ``nullable``, numeric
``exclusiveMinimum``, ``const``. Clients generated from it and schemathesis reject that, so
the served document is rewritten once into proper 3.0: definitions hoisted into
``components/schemas``, nullability and bounds in 3.0's words.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

SPEC_PATH = "/docs/openapi.json"


def _fix(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_fix(x, defs) for x in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for name, schema in (node.pop("$defs", None) or {}).items():
        defs.setdefault(name, _fix(schema, defs))
    # anyOf [X, null] → X, nullable (first, so X's own keywords are fixed below with the rest).
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list):
            rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(rest) < len(options):
                node["nullable"] = True
                if len(rest) == 1 and isinstance(rest[0], dict):
                    node.pop(key)
                    if "$ref" in rest[0]:
                        node["allOf"] = [rest[0]]
                    else:
                        for k, v in rest[0].items():
                            node.setdefault(k, v)
                else:
                    node[key] = rest
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref[len("#/$defs/"):]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[inclusive] = node.pop(bound)
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and node.get("type") == "object":
        kinds = {type(v) for v in node["enum"]}
        node["type"] = "string" if kinds == {str} else "integer" if kinds == {int} else node["type"]
    node.pop("examples", None)
    if "prefixItems" in node:
        items = node.pop("prefixItems")
        node.setdefault("items", items[0] if len(items) == 1 else {"anyOf": items})
    properties = node.get("properties")
    if isinstance(properties, dict):
        properties.pop("model_config", None)  # a pydantic class attribute, not a field
    return {k: (_fix(v, defs) if k != "properties" else {pk: _fix(pv, defs) for pk, pv in v.items()})
            for k, v in node.items()}


def to_oas30(spec: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    fixed = _fix(spec, defs)
    schemas = fixed.setdefault("components", {}).setdefault("schemas", {})
    # Definitions may themselves hold definitions: fix until nothing new appears.
    pending = dict(defs)
    while pending:
        for name, schema in pending.items():
            schemas.setdefault(name, schema)
        more: dict[str, Any] = {}
        for name in list(pending):
            schemas[name] = _fix(schemas[name], more)
        pending = {k: v for k, v in more.items() if k not in schemas}
    return fixed


def install(app: Sanic) -> None:
    @app.on_response(priority=50)
    async def rewrite_spec(request: Request, response: HTTPResponse) -> None:
        if request.path != SPEC_PATH or response.status != 200 or not response.body:
            return
        cached = getattr(app.ctx, "openapi_body", None)
        if cached is None:
            cached = json.dumps(to_oas30(json.loads(response.body)), ensure_ascii=False).encode()
            app.ctx.openapi_body = cached
        response.body = cached
        response.headers["content-length"] = str(len(cached))
