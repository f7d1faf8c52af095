"""The OpenAPI document, made valid OpenAPI 3.0.

sanic-ext embeds the JSON Schema pydantic writes (2020-12) in a 3.0 document: ``$defs`` inside
operations that nothing resolves, ``anyOf [X, null]`` instead of ``nullable``, numeric
``exclusiveMinimum``, ``const``. Clients generated from it and schemathesis reject that, so
the served document is rewritten once into proper 3.0: definitions hoisted into
``components/schemas``, nullability and bounds in 3.0's words.

Swagger UI at ``/docs`` is served from this server's own files (the ``swagger_ui_bundle`` package
and ``server/static/docs``), not from a CDN: it must work on an intranet PC without internet.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from sanic import Request, Sanic
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, file
from sanic_ext import openapi as oas
from sanic_ext.extensions.openapi import blueprint as oas_blueprint

from server.http import MAX_ID

DOCS_PREFIX = "/docs"
SPEC_PATH = f"{DOCS_PREFIX}/openapi.json"
UI_PREFIX = f"{DOCS_PREFIX}/ui"
UI_TITLE = "海贝 API 文档"
OWN_UI = Path(__file__).parent / "static" / "docs"
SWAGGER_UI = Path(str(swagger_ui_bundle.swagger_ui_path))
_CSS, _JS = "text/css; charset=utf-8", "text/javascript; charset=utf-8"
# What /docs/ui serves: the page's files and nothing else of either folder.
UI_FILES: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", _CSS),
    "index.css": (SWAGGER_UI / "index.css", _CSS),
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", _JS),
    "swagger-ui-standalone-preset.js": (SWAGGER_UI / "swagger-ui-standalone-preset.js", _JS),
    "favicon-32x32.png": (SWAGGER_UI / "favicon-32x32.png", "image/png"),
    "favicon-16x16.png": (SWAGGER_UI / "favicon-16x16.png", "image/png"),
    "docs-init.js": (OWN_UI / "docs-init.js", _JS),
}


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


def _path_ids(spec: dict[str, Any]) -> None:
    """sanic-ext says int32 for every ``<x:int>`` path parameter; they are ids, 1 to 2^63−1
    (server.http.MAX_ID: anything else is 404 before a handler runs)."""
    for operations in (spec.get("paths") or {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema") or {}
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    parameter["schema"] = {**schema, "format": "int64", "minimum": 1, "maximum": MAX_ID}


def to_oas30(spec: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    _path_ids(spec)
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


def ui_version() -> str:
    """The token in the page's asset URLs: it changes whenever one of the files may have."""
    ours = hashlib.sha256(b"".join((OWN_UI / name).read_bytes() for name in ("index.html", "docs-init.js")))
    return f"{SWAGGER_UI.name.removeprefix('swagger-ui-')}-{ours.hexdigest()[:8]}"


def install_ui(app: Sanic) -> None:
    """sanic-ext's Swagger UI page, with our template pointing at our own copies of its files.

    Call before the first use of ``app.ext``: sanic-ext reads these settings when it starts. Its UI
    stays on rather than being replaced, because with it off sanic-ext fails at startup (its
    banner asks for the ``openapi.index`` route)."""
    version = ui_version()
    # sanic-ext fetches the OAuth2 redirect page from jsDelivr when it is first asked for, from the
    # server itself: offline, that request hangs and fails. The bundle ships the same page.
    oas_blueprint.get_oauth2_redirect_html = lambda version: (SWAGGER_UI / "oauth2-redirect.html").read_text("utf-8")
    app.config.update(
        OAS_URL_PREFIX=DOCS_PREFIX,
        OAS_UI_DEFAULT="swagger",
        OAS_UI_REDOC=False,
        OAS_UI_SWAGGER=True,
        OAS_PATH_TO_SWAGGER_HTML=str(OWN_UI / "index.html"),
        OAS_UI_SWAGGER_HTML_TITLE=UI_TITLE,
        OAS_UI_SWAGGER_CDN_URL=UI_PREFIX,
        OAS_UI_SWAGGER_VERSION=version,
    )

    @app.get(f"{UI_PREFIX}/<name:str>", name="docs_ui_file")
    @oas.exclude()
    async def ui_file(request: Request, name: str) -> HTTPResponse:
        if name not in UI_FILES:
            raise NotFound()
        path, content_type = UI_FILES[name]
        # The page asks for ?v=<version>: that URL's content never changes, so it is cached for a
        # year. Any other URL is checked with the server each time (Last-Modified).
        headers = {"x-content-type-options": "nosniff"}
        if request.args.get("v") == version:
            headers["cache-control"] = "public, max-age=31536000, immutable"
        return await file(path, mime_type=content_type, headers=headers, request_headers=request.headers)


def install(app: Sanic) -> None:
    @app.on_response(priority=50)
    async def docs_responses(request: Request, response: HTTPResponse) -> None:
        """The spec rewritten into 3.0 (once), and the Swagger UI page never served stale."""
        if request.path in (DOCS_PREFIX, f"{DOCS_PREFIX}/swagger"):
            # The page names its files by version: a fresh copy of it finds the new ones.
            response.headers.setdefault("cache-control", "no-cache")
            return
        if request.path != SPEC_PATH or response.status != 200 or not response.body:
            return
        cached = getattr(app.ctx, "openapi_body", None)
        if cached is None:
            cached = json.dumps(to_oas30(json.loads(response.body)), ensure_ascii=False).encode()
            app.ctx.openapi_body = cached
        response.body = cached
        response.headers["content-length"] = str(len(cached))
