"""Hostile input gets a 4xx in the house shape, never a 500.

These are the probes an attacker sent: ids in the path that no row can have (2^63, 2^64, 10^23, -1,
0), integers beyond 64 bits in query strings and bodies, JSON nested 100 000 deep, and bodies sent to
routes that take none. Each probe goes to every route it applies to, found by walking the app's
router and its OpenAPI document. It is sent as a caller the route allows, with the body the route
takes, to the worlds of the role matrices (tests/handlers/access), so the probe is the only thing
about the request that can be refused.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
import pytest_asyncio

from server.app import RAW_BODY_ROUTES
from server.http import MAX_ID, MAX_JSON_DEPTH, takes_json_body
from tests.handlers.access import test_access_matrix, test_access_matrix_points, test_access_matrix_workflow
from tests.handlers.access.matrix_support import Worlds, first_allowed
from tests.handlers.workflow.test_catalogue_uploads import tiny_png

# The matrices' worlds are built once for this module: the per-test cleanup leaves their tables alone.
pytestmark = pytest.mark.shared_world

MATRICES = (test_access_matrix, test_access_matrix_points, test_access_matrix_workflow)
# Ids that no row can have: beyond the database's signed 64 bits, or not positive.
OUT_OF_RANGE_IDS = (2**63, 2**64, 10**23, -1, 0)
# Integers outside the signed 64 bits, either way.
HUGE_QUERY_INTEGERS = (10**23, 2**63, -(2**63) - 1)
HUGE_BODY_INTEGERS = (2**63, 10**23)
SOME_BODY = {"volunteer_id": 1}


@dataclass
class Case:
    """One route as a matrix entry reaches it: who sends what where."""

    name: str
    method: str
    path: str
    query: str
    body: Any  # a JSON value, "png" for an upload, or None
    headers: dict[str, str]
    route: Any  # the app's Route

    @property
    def key(self) -> tuple[str, str]:
        return self.method, "/" + self.route.path.lstrip("/")

    @property
    def template(self) -> str:
        """The route's path as the OpenAPI document writes it."""
        return "/" + re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", self.route.path.lstrip("/"))

    def url(self, *, segment: tuple[int, Any] | None = None, query: dict[str, str] | None = None) -> str:
        """The case's URL, with one path segment replaced, or its query string updated."""
        parts = self.path.lstrip("/").split("/")
        if segment is not None:
            parts[segment[0]] = str(segment[1])
        params = dict(parse_qsl(self.query))
        params.update(query or {})
        return "/" + "/".join(parts) + ("?" + urlencode(params) if params else "")


async def send(client: httpx.AsyncClient, case: Case, url: str | None = None, *, json: Any = ...,
               content: bytes | None = None) -> httpx.Response:
    """``case``'s request, with its own body unless another (``json`` or raw ``content``) is given."""
    headers = {**case.headers, "Idempotency-Key": uuid.uuid4().hex}
    url = url or case.url()
    if content is not None:
        return await client.request(case.method, url, content=content,
                                    headers={**headers, "Content-Type": "application/json"})
    if json is ... and case.body == "png":
        return await client.request(case.method, url, files={"file": ("p.png", tiny_png(), "image/png")},
                                    headers=headers)
    return await client.request(case.method, url, json=case.body if json is ... else json, headers=headers)


def house_error(r: httpx.Response) -> dict | None:
    """The error of ``r`` if it has the house shape, else None."""
    try:
        body = r.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return None
    return error if isinstance(error["code"], str) and error["message"] else None


def named(error: dict, field: str) -> bool:
    """Whether the error's details name ``field`` (or a part of it: ``ids.0`` for ``ids``)."""
    details = error.get("details") or []
    return any(isinstance(d, dict) and (str(d.get("field")) == field or str(d.get("field")).startswith(field + "."))
               for d in details)


def refused(r: httpx.Response, status: int, code: str) -> str | None:
    """None if ``r`` is ``status`` with ``code`` in the house shape, else what it was."""
    error = house_error(r)
    if r.status_code == status and error is not None and error["code"] == code:
        return None
    return f"{r.status_code} {r.text[:200]}"


def client_error(r: httpx.Response, *, page: bool = False) -> str | None:
    """None if ``r`` is a 4xx in the house shape (a console ``page``: an HTML page), else what it was."""
    if 400 <= r.status_code < 500 and (house_error(r) is not None or (
            page and r.headers.get("content-type", "").startswith("text/html"))):
        return None
    return f"{r.status_code} {r.text[:200]}"


# --- the worlds and the cases -----------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def client(api):
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as c:
        c._haibei_api = api  # builders that move the app's clock find it here
        yield c


@pytest_asyncio.fixture(scope="module")
async def worlds(api, reset_state):
    await reset_state()  # the module starts from empty tables, as each test did
    return {m: Worlds(api, reset_state, m._build_world, prepare=getattr(m, "PREPARE", None),
                      isolated=getattr(m, "ISOLATED", ())) for m in MATRICES}


def _sessions(world) -> dict:
    return getattr(world, "sessions", None) or world.s


@pytest_asyncio.fixture(scope="module")
async def cases(api, client, worlds) -> list[Case]:
    """Every matrix entry as a case, then the routes no matrix holds (public by design, and the
    docs), anonymous."""
    out = []
    for module in MATRICES:
        for entry in module.ROUTES:
            name, method, path, body, allowed = entry[:5]
            prepare = entry[6] if len(entry) > 6 else None
            # Shared worlds (role None): the probes are refused before they change anything, but for
            # the few an id in range lets through, which no other probe reads.
            world = await worlds[module].for_case(client, name=name, method=method, allowed=allowed, role=None,
                                                  **({"prepare": prepare} if prepare else {}))
            url = urlsplit(path(world))
            role = first_allowed(allowed)
            route, _, _ = api.app.router.get(url.path, method, None)
            out.append(Case(name=name, method=method, path=url.path, query=url.query,
                            body=body(world) if callable(body) else body,
                            headers=dict(_sessions(world)[role].headers), route=route))
    covered = {c.key for c in out}
    for route in api.app.router.routes:
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            path = "/" + route.path.lstrip("/")
            if (method, path) in covered:
                continue
            # Its parameters filled in: an id of 1, a word (the docs' own files).
            path = re.sub(r"<[^>]+>", "x", re.sub(r"<\w+:int>", "1", path))
            out.append(Case(name=f"{method} {path}", method=method, path=path, query="", body=None, headers={},
                            route=route))
    return out


@pytest_asyncio.fixture(scope="module")
async def spec(client) -> dict:
    return (await client.get("/docs/openapi.json")).json()


@pytest.fixture
async def fresh_rate_limits(worlds):
    """Rate-limit windows start empty, as when ``clean`` empties Redis before a test."""
    await worlds[test_access_matrix]._forget_rate_limits()


def _served(api) -> set[tuple[str, str]]:
    return {(m, "/" + r.path.lstrip("/")) for r in api.app.router.routes for m in r.methods - {"HEAD", "OPTIONS"}}


def _takes(case: Case) -> str:
    """What body the case's route takes: "json" (``@body``), "form" (a console page), "raw" (an
    upload, WeChat's XML), or "none"."""
    if takes_json_body(case.route.handler):
        return "json"
    if getattr(case.route.handler, "reads_form", False):
        return "form"
    return "raw" if case.key in {(m, p) for m, p in RAW_BODY_ROUTES} else "none"


def _page(case: Case) -> bool:
    """A console page: it answers people with HTML pages, not the API's JSON errors."""
    return case.path.startswith("/console")


def _report(failures: list[str], what: str) -> None:
    assert not failures, f"{len(failures)} {what}:\n" + "\n".join(failures[:60])


# --- ids in the path --------------------------------------------------------------------------


async def test_ids_no_row_can_have_are_404_on_every_route(api, client, cases, fresh_rate_limits):
    failures, probed, probes = [], set(), 0
    for case in cases:
        for idx, param in case.route.params.items():
            if param.cast is not int:
                continue
            probed.add(case.key)
            for value in (*OUT_OF_RANGE_IDS, MAX_ID):
                r = await send(client, case, case.url(segment=(idx, value)))
                probes += 1
                # The largest id a row can have is looked up like any other, and there is no such row.
                problem = refused(r, 404, "NOT_FOUND") if value != MAX_ID else client_error(r, page=_page(case))
                if problem:
                    failures.append(f"{case.method} {case.template} {param.name}={value}: {problem}")
    with_ids = {(m, "/" + r.path.lstrip("/")) for r in api.app.router.routes
                for m in r.methods - {"HEAD", "OPTIONS"} if any(p.cast is int for p in r.params.values())}
    assert probed == with_ids, f"routes with ids left unprobed: {sorted(with_ids - probed)}"
    print(f"\npath ids: {probes} probes on {len(probed)} routes")
    _report(failures, "path-id probes not answered 404")


# --- integers in query strings ----------------------------------------------------------------


async def test_query_integers_beyond_64_bits_are_400_on_every_route(client, cases, spec, fresh_rate_limits):
    by_operation = {}
    for case in cases:
        by_operation.setdefault((case.method, case.template), case)
    failures, probes, operations, cursors = [], 0, set(), 0
    for template, methods in spec["paths"].items():
        for method, operation in methods.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            if not names:
                continue
            case = by_operation[(method.upper(), template)]
            operations.add((method, template))
            for name in names:
                # A parameter that refuses a word is typed (a number, a flag, a choice, a time), and
                # must refuse a number it cannot hold just as plainly.
                r = await send(client, case, case.url(query={name: "x"}))
                error = house_error(r)
                typed = r.status_code == 400 and error is not None and named(error, name)
                if name == "cursor":
                    cursors += 1
                    if not typed:
                        failures.append(f"{method.upper()} {template} cursor=x: {r.status_code} {r.text[:200]}")
                for value in HUGE_QUERY_INTEGERS:
                    r = await send(client, case, case.url(query={name: str(value)}))
                    probes += 1
                    error = house_error(r)
                    if r.status_code >= 500 or (r.status_code >= 400 and error is None):
                        failures.append(f"{method.upper()} {template} {name}={value}: {r.status_code} {r.text[:200]}")
                    elif typed and not (r.status_code == 400 and error["code"] == "VALIDATION_ERROR"
                                        and named(error, name)):
                        failures.append(f"{method.upper()} {template} {name}={value}: not refused by name: "
                                        f"{r.status_code} {r.text[:200]}")
    assert cursors >= 4, f"only {cursors} paged lists with a cursor found"
    print(f"\nquery integers: {probes} probes on {len(operations)} routes, {cursors} of them paged by cursor")
    _report(failures, "query probes answered otherwise than 400")


# --- JSON bodies ------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


async def test_json_nested_too_deep_is_400_on_every_route_with_a_body(api, client, cases, fresh_rate_limits):
    limit = api.settings.max_body_bytes
    failures, probes, routes = [], 0, set()
    for case in cases:
        takes = _takes(case)
        if takes == "none":
            continue  # refused whatever it is: test_a_body_to_a_route_without_one_is_400
        if takes == "form":
            continue  # a console form, not JSON: tests/handlers/console/test_console_access.py
        routes.add(case.key)
        probes_of_case = [
            (b"[" * (limit - 1), ("VALIDATION_ERROR", "json_too_deep")),
            # A body too large is refused for its size before its depth is looked at.
            (b"[" * 100_000, ("PAYLOAD_TOO_LARGE", None) if 100_000 > limit else ("VALIDATION_ERROR", "json_too_deep")),
            (_nested(MAX_JSON_DEPTH + 1), ("VALIDATION_ERROR", "json_too_deep")),
            # As deep as allowed: parsed, and refused by the schema for its unknown field instead.
            (_nested(MAX_JSON_DEPTH), ("VALIDATION_ERROR", "extra_forbidden")),
            # More digits than Python converts (4 300), and a number beyond a float: not JSON to us.
            (b'{"a": ' + b"7" * 5000 + b"}", ("VALIDATION_ERROR", "json_invalid")),
            (b'{"a": 1e999}', ("VALIDATION_ERROR", "json_invalid")),
            (b'{"a": NaN}', ("VALIDATION_ERROR", "json_invalid")),
        ]
        for content, (code, kind) in probes_of_case:
            r = await send(client, case, content=content)
            probes += 1
            what = f"{case.method} {case.template} {content[:12]!r}…({len(content)} bytes)"
            if takes == "raw":
                # An upload that is no image, a WeChat message without a signature: theirs to refuse.
                if problem := client_error(r):
                    failures.append(f"{what}: {problem}")
                continue
            status = 413 if code == "PAYLOAD_TOO_LARGE" else 400
            if problem := refused(r, status, code):
                failures.append(f"{what}: {problem}")
            elif kind and not any(d.get("type") == kind for d in house_error(r)["details"] or []):
                failures.append(f"{what}: not {kind}: {r.text[:200]}")
    print(f"\ndeep JSON: {probes} probes on {len(routes)} routes")
    _report(failures, "deep or unparsable JSON probes answered otherwise")


def _resolve(schema: dict, spec: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _integer_fields(schema: dict, payload: Any, spec: dict, path: tuple = ()):
    """(path, schema) of every integer the body may carry where ``payload`` has room for it: each
    integer property, and each list of integers as a list, of the objects ``payload`` holds."""
    schema = _resolve(schema, spec)
    if not isinstance(payload, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        sub = _resolve(sub, spec)
        if sub.get("type") == "integer":
            yield path + (name,), sub
        elif sub.get("type") == "array" and _resolve(sub.get("items", {}), spec).get("type") == "integer":
            yield path + (name,), {**_resolve(sub["items"], spec), "array": True}
        elif isinstance(payload.get(name), dict):
            yield from _integer_fields(sub, payload[name], spec, path + (name,))


def _with(payload: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


async def test_body_integers_beyond_64_bits_are_400_on_every_route(api, client, cases, spec, fresh_rate_limits):
    failures, probes, fields, routes = [], 0, 0, set()
    for case in cases:
        if _takes(case) != "json" or not isinstance(case.body, dict):
            continue
        operation = spec["paths"][case.template][case.method.lower()]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        for path, field_schema in _integer_fields(schema, case.body, spec):
            fields += 1
            routes.add(case.key)
            field = ".".join(path)
            values = list(HUGE_BODY_INTEGERS)
            if field_schema.get("maximum") == MAX_ID:
                values.append(MAX_ID)  # an id no row has, but one the database can hold
            for value in values:
                r = await send(client, case, json=_with(case.body, path, [value] if field_schema.get("array") else value))
                probes += 1
                what = f"{case.method} {case.template} {field}={value}"
                if value == MAX_ID:
                    if r.status_code >= 500 or (r.status_code >= 400 and house_error(r) is None):
                        failures.append(f"{what}: {r.status_code} {r.text[:200]}")
                elif problem := refused(r, 400, "VALIDATION_ERROR"):
                    failures.append(f"{what}: {problem}")
                elif not named(house_error(r), field):
                    failures.append(f"{what}: not refused by name: {r.text[:200]}")
    assert fields >= 20, f"only {fields} integer fields found in the request bodies"
    print(f"\nbody integers: {probes} probes of {fields} fields on {len(routes)} routes")
    _report(failures, "body-integer probes answered otherwise than 400")


# --- bodies where none belongs ----------------------------------------------------------------


async def test_a_body_to_a_route_without_one_is_400(api, client, cases, fresh_rate_limits):
    failures, probes, routes = [], 0, set()
    for case in cases:
        if _takes(case) != "none":
            continue
        routes.add(case.key)
        for kind, kwargs in (("json", {"json": SOME_BODY}), ("deep", {"content": b"[" * 100_000})):
            r = await send(client, case, **kwargs)
            probes += 1
            if problem := refused(r, 400, "BODY_NOT_ALLOWED"):
                failures.append(f"{case.method} {case.template} ({kind}): {problem}")
        if case.method == "GET" and not case.path.startswith("/__test/"):
            # Nothing and an empty object are no body: answered as without one. (A route that
            # changes state is tried with {} in test_a_refused_body_changes_nothing.)
            plain = (await send(client, case)).status_code
            for content in (b"{}", b" { } ", b""):
                r = await send(client, case, content=content)
                probes += 1
                if r.status_code != plain:
                    failures.append(f"{case.method} {case.template} {content!r}: {r.status_code}, without: {plain}")
    every_route = {c.key for c in cases}
    assert every_route == _served(api), f"served routes without a case: {sorted(_served(api) - every_route)}"
    print(f"\nbodies where none belongs: {probes} probes on {len(routes)} routes")
    _report(failures, "bodies to routes without one not refused")


async def test_a_refused_body_changes_nothing(api, client, worlds, fresh_rate_limits):
    from models import TaskClaim, User

    module = test_access_matrix_workflow
    w = await worlds[module].for_case(client, name="tasks.claim", method="POST", allowed=module.VOLUNTEERS,
                                      role="volunteer")  # a world of its own: this test changes it
    volunteer, other = w.s["volunteer"], w.s["claimant"]
    claim = f"/api/v1/tasks/{w.open_task}/claim"

    r = await client.post(claim, json={"volunteer_id": other.id}, headers=volunteer.headers)
    assert refused(r, 400, "BODY_NOT_ALLOWED") is None, r.text
    assert await TaskClaim.filter(task_id=w.open_task).count() == 0
    assert (await client.get(f"/api/v1/tasks/{w.open_task}", headers=volunteer.headers)).json()["status"] == "open"
    # The same request with an empty object claims: the body alone was refused.
    r = await client.post(claim, json={}, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    claimed_by = await TaskClaim.filter(task_id=w.open_task).values_list("volunteer__user_id", flat=True)
    assert claimed_by == [volunteer.id]

    # DELETE too: closing one's account with a body closes nothing.
    r = await client.request("DELETE", "/api/v1/me", json={"user_id": other.id}, headers=volunteer.headers)
    assert refused(r, 400, "BODY_NOT_ALLOWED") is None, r.text
    assert (await client.get("/api/v1/me", headers=volunteer.headers)).status_code == 200
    assert await User.filter(id=other.id).exists()


async def test_an_id_beyond_64_bits_is_refused_before_authentication(client):
    """A path no row can have is not found, whoever asks (nothing is looked up, nor the caller)."""
    for url in (f"/api/v1/tasks/{2**63}/claim", f"/api/v1/tasks/{10**23}", "/api/v1/needs/0", "/api/v1/needs/-1"):
        method = "POST" if url.endswith("claim") else "GET"
        assert refused(await client.request(method, url), 404, "NOT_FOUND") is None, url


def test_the_same_on_sqlite(tmp_path):
    """SQLite overflows where MariaDB does not (an id past 64 bits raised OverflowError in the
    driver): when the suite runs on MariaDB, this module runs once more on a SQLite file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import BACKEND

    if not BACKEND.db_url.startswith("mysql://"):
        pytest.skip("this run is on SQLite: the tests above ran on it")
    root = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "HAIBEI_TEST_DB_URL": f"sqlite://{tmp_path / 'hostile.sqlite3'}"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(Path(__file__).relative_to(root)), "-k", "not the_same_on_sqlite"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "7 passed" in done.stdout and "SQLite" in done.stdout, done.stdout[-2000:]
