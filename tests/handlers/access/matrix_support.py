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


# --- one world per module --------------------------------------------------------------------
#
# A matrix case reads one world: the stations, people and records its route and role act on.
# Building it is most of a case's cost, so each module builds it once (``Worlds``, module scope,
# its tests marked ``shared_world``: the per-test ``clean`` leaves the tables alone) and every case
# that cannot change it reads the shared one: a GET, a role that must be refused, a body that must
# be refused (mass assignment). A case that may change it (a method other than GET, by a role that
# is allowed) gets a world of its own, built next to the shared ones (new stations, new people), so
# nothing it does reaches another case. A route that changes what is not any world's own (the
# points rules, the questionnaire, the service catalogue, ...) is ``isolated``: everything is
# emptied before it as ``clean`` does, as for any test, and the shared worlds are built again after.

# Shared worlds outlive one case: their tokens must outlive the module, however slow the machine.
SHARED_TOKEN_TTL = 6 * 3600


async def unique_district(**overrides):
    """A district whose code no other world's district has (``make_district``'s random code could
    collide among the worlds a module builds side by side)."""
    import uuid

    from tests.builders import make_district

    return await make_district(**{"code": "m" + uuid.uuid4().hex[:11], **overrides})


async def station_apart(**overrides):
    """A station in a district of its own."""
    from tests.builders import make_station

    return await make_station(district=await unique_district(), **overrides)


class Worlds:
    """The worlds of one matrix module; ``for_case`` gives each case the one it may use.

    ``build(client, api)`` makes a world; ``prepare[kind](world, client)`` takes it to a state a
    route needs (a record submitted, a referral made, ...). Each prepared state has its own shared
    world, prepared once."""

    def __init__(self, api, reset, build, *, prepare=None, isolated=()):
        self.api, self.reset, self.build = api, reset, build
        self.prepare = prepare or {}
        self.isolated = frozenset(isolated)
        self.shared: dict = {}
        self.built = 0

    @staticmethod
    def changes_state(method: str, allowed: set[str], role: str | None) -> bool:
        return role is not None and role in allowed and method != "GET"

    async def for_case(self, client, *, name: str, method: str, allowed: set[str], role: str | None,
                       prepare: str | None = None):
        """``role`` None: a case whose request must be refused whoever sends it (mass assignment)."""
        await self._forget_rate_limits()
        if not self.changes_state(method, allowed, role):
            if prepare not in self.shared:
                world = await self._make(client, prepare)
                await self._long_lived(world)
                self.shared[prepare] = world
            return self.shared[prepare]
        if name in self.isolated:
            await self.reset()
            self.shared.clear()
        return await self._make(client, prepare)

    async def _make(self, client, prepare):
        world = await self.build(client, self.api)
        if prepare:
            await self.prepare[prepare](world, client)
        self.built += 1
        return world

    async def _forget_rate_limits(self) -> None:
        """Rate-limit windows are counted per test, as when ``clean`` empties Redis before each: the
        cases of a module together would otherwise fill a per-address window no single test fills."""
        r = self.api.app.ctx.redis.aio
        keys = [k async for k in r.scan_iter(match=self.api.settings.redis_prefix + "rl:*")]
        if keys:
            await r.delete(*keys)

    async def _long_lived(self, world) -> None:
        from models import User
        from server.auth import issue_token
        from tests.builders import Session

        for value in vars(world).values():
            if not (isinstance(value, dict) and value and all(isinstance(v, Session) for v in value.values())):
                continue
            for session in value.values():
                user = await User.get(id=session.id)
                session.token = issue_token(user=user, secret=self.api.settings.jwt_secret, ttl_seconds=SHARED_TOKEN_TTL)
                session.headers["Authorization"] = f"Bearer {session.token}"


# --- district administrators ----------------------------------------------------------------
#
# Each matrix has two district administrators: ``district_a`` keeps the district of station A (where
# the matrix's records live), ``district_b`` the district of station B. What each may do is a table
# of its own beside the routes, one line per route — "ok", or the status it must get — so that a
# route added without deciding what districts may do with it fails (``with_districts``).

DISTRICT_ROLES = ["district_a", "district_b"]


async def district_sessions(api, a, b) -> dict:
    from tests.builders import fast_login

    return {"district_a": await fast_login(api, "district_admin", district_id=a.district_id),
            "district_b": await fast_login(api, "district_admin", district_id=b.district_id)}


def with_districts(routes: list[tuple], table: dict[str, tuple], *, denied_at: int = 5) -> list[tuple]:
    """``routes`` with the district administrators' outcomes from ``table`` folded into each entry's
    allowed roles and refusals."""
    names = [r[0] for r in routes]
    missing = [n for n in names if n not in table]
    stale = [n for n in table if n not in names]
    assert not missing and not stale, f"district table: missing {missing}, matching no route {stale}"
    out = []
    for route in routes:
        allowed, denied = set(route[4]), route[denied_at]
        denied = dict(denied) if isinstance(denied, dict) else ({} if denied is None else {"*": denied})
        for role, want in zip(DISTRICT_ROLES, table[route[0]], strict=True):
            if want == "ok":
                allowed.add(role)
            else:
                denied[role] = want
        out.append((*route[:4], allowed, denied, *route[denied_at + 1:]))
    return out
