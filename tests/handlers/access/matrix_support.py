"""Shared by the role matrices: the mass-assignment probe (OWASP API3)."""

# Fields a caller might try to set on themselves or a record they do not own.
PRIVILEGED = {"roles": ["admin"], "station_id": 999_999, "organization_id": 999_999, "balance": 1_000_000,
              "status": "confirmed", "user_id": 1, "id": 1, "points": 999, "verified_minutes": 999}


def first_allowed(allowed: set[str]) -> str:
    for role in ("worker_a", "admin", "owner", "claimant", "volunteer", "org_staff", "resident"):
        if role in allowed:
            return role
    raise AssertionError(f"no signed-in role allowed among {allowed}")


_SPEC: dict = {}


async def _declared_fields(client, method: str, url: str) -> set[str]:
    """The fields the route's request schema declares, read from the app's own OpenAPI document
    (a field a route takes by design, such as a task's ``points`` set by its worker, is not a probe)."""
    import re
    from urllib.parse import urlsplit

    if not _SPEC:
        _SPEC.update((await client.get("/docs/openapi.json")).json())
    route, _, _ = client._haibei_api.app.router.get(urlsplit(url).path, method, None)
    template = "/" + re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.path.lstrip("/"))
    body = _SPEC["paths"][template][method.lower()].get("requestBody") or {}
    schema = (body.get("content", {}).get("application/json") or {}).get("schema") or {}
    while "$ref" in schema:
        schema = _SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return set(schema.get("properties", {}))


async def assert_mass_assignment_refused(client, method: str, url: str, payload: dict, headers: dict) -> None:
    """The allowed caller's valid body plus privileged fields it does not carry and its schema does
    not declare: 400 naming each of them (the schemas forbid unknown fields), so nothing of it can
    reach a record."""
    declared = await _declared_fields(client, method, url)
    extra = {k: v for k, v in PRIVILEGED.items() if k not in payload and k not in declared}
    assert len(extra) >= 5, f"{method} {url}: the probe would carry too little: {extra}"
    r = await client.request(method, url, json={**payload, **extra}, headers=headers)
    assert r.status_code == 400, f"{method} {url}: {r.status_code} {r.text}"
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    named = {str(d.get("field", "")).split(".")[-1] for d in error["details"]}
    assert set(extra) <= named, f"{method} {url}: not refused by name: {set(extra) - named}"
