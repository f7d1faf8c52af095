"""The API's contract with the mini-program: the served OpenAPI document's paths, methods,
parameters, request bodies, responses and schemas equal the committed snapshot
(tests/handlers/openapi_contract.json). Human-readable text (summaries, descriptions) may change
freely; anything else that changes is a change of the API and must be made on purpose:
``HAIBEI_UPDATE_OPENAPI=1 scripts/test tests/handlers/test_openapi_contract.py`` rewrites the
snapshot, and the diff shows what changed."""

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi_contract.json")
PROSE = ("description", "summary")


def contract(node: Any, *, under_properties: bool = False) -> Any:
    """The document without its prose (a property named like a prose key is kept)."""
    if isinstance(node, list):
        return [contract(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: contract(v, under_properties=(k == "properties"))
            for k, v in node.items() if under_properties or not (k in PROSE and isinstance(v, str))}


async def test_the_served_api_is_the_committed_contract(client):
    served = contract((await client.get("/docs/openapi.json")).json())
    if os.environ.get("HAIBEI_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(json.dumps(served, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    committed = json.loads(SNAPSHOT.read_text())
    assert sorted(served["paths"]) == sorted(committed["paths"])
    for path, operations in committed["paths"].items():
        assert served["paths"][path] == operations, path
    assert served["components"] == committed["components"]
    assert served == committed


def test_prose_is_left_out_but_fields_named_like_it_stay():
    doc = {"summary": "x", "properties": {"description": {"type": "string", "description": "需求描述"}},
           "parameters": [{"name": "q", "description": "search"}]}
    assert contract(doc) == {"properties": {"description": {"type": "string"}}, "parameters": [{"name": "q"}]}
