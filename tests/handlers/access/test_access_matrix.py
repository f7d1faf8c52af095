"""Every route of the foundation × every role: allowed roles succeed, the others get 401/403/404.

The subject records live at station A: a household profile owned by ``owner`` and a pending
volunteer application. ``worker_b`` works at station B and must not even learn they exist.
"""

from types import SimpleNamespace

import pytest

from models import IdentityCase
from server.people import console_tickets
from tests.builders import new_openid, random_id_number, resident_payload, volunteer_payload
from tests.handlers.access.matrix_support import (
    DISTRICT_ROLES, Worlds, district_sessions, station_apart, unique_district, with_districts,
)

# Built once for the module (matrix_support.Worlds): the per-test cleanup leaves its tables alone.
pytestmark = pytest.mark.shared_world

ROLES = ["anonymous", "resident", "owner", "volunteer", "worker_a", "worker_b", "org_staff", "admin", *DISTRICT_ROLES]
SIGNED_IN = set(ROLES) - {"anonymous"}
WORKERS = {"worker_a", "worker_b"}


def _district_body(w):
    return {"code": new_openid("d")[-8:], "name": "新区"}


# (name, method, path builder, body builder, roles allowed, status for a signed-in role not allowed)
ROUTES = [
    ("healthz", "GET", lambda w: "/healthz", None, set(ROLES), None),
    ("livez", "GET", lambda w: "/livez", None, set(ROLES), None),
    ("stations", "GET", lambda w: "/api/v1/stations", None, set(ROLES), None),
    ("me", "GET", lambda w: "/api/v1/me", None, SIGNED_IN, None),
    ("me.phone", "POST", lambda w: "/api/v1/me/phone", lambda w: {"code": "fake-phone:13912345678"}, SIGNED_IN, None),
    ("me.resident", "PUT", lambda w: "/api/v1/me/resident", lambda w: resident_payload(w.a), SIGNED_IN, None),
    ("me.volunteer", "PUT", lambda w: "/api/v1/me/volunteer", lambda w: volunteer_payload(w.a), SIGNED_IN, None),
    ("me.close", "DELETE", lambda w: "/api/v1/me", None, SIGNED_IN, None),
    ("residents.list", "GET", lambda w: "/api/v1/residents", None, WORKERS, 403),
    ("residents.create", "POST", lambda w: "/api/v1/residents", lambda w: resident_payload(w.a), {"worker_a"}, 403),
    ("residents.get", "GET", lambda w: f"/api/v1/residents/{w.resident_id}", None, {"owner", "worker_a", "admin"}, 404),
    ("residents.edit", "PUT", lambda w: f"/api/v1/residents/{w.resident_id}", lambda w: resident_payload(w.a),
     {"worker_a"}, {"owner": 403, "admin": 403, "*": 404}),
    ("residents.categories", "PUT", lambda w: f"/api/v1/residents/{w.resident_id}/categories",
     lambda w: {"categories": ["低保"]}, {"worker_a"}, {"owner": 403, "admin": 403, "*": 404}),
    ("residents.exit", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/exit", lambda w: {"reason": "moved_away"},
     {"worker_a"}, {"owner": 403, "admin": 403, "*": 404}),
    ("residents.reinstate", "POST", lambda w: f"/api/v1/residents/{w.resident_id}/reinstate", None,
     {"worker_a"}, {"owner": 403, "admin": 403, "*": 404}),
    ("residents.unmasked", "GET", lambda w: f"/api/v1/residents/{w.resident_id}/unmasked", None,
     {"owner", "worker_a"}, {"admin": 403, "*": 404}),
    ("residents.identity_cases", "GET", lambda w: "/api/v1/residents/identity-cases", None, WORKERS, 403),
    ("residents.identity_cases.settle", "POST", lambda w: f"/api/v1/residents/identity-cases/{w.case_id}/settle",
     lambda w: {"outcome": "holder_keeps"}, {"worker_a"}, {"worker_b": 404, "*": 403}),
    ("volunteers.list", "GET", lambda w: "/api/v1/volunteers", None, WORKERS, 403),
    ("volunteers.approve", "POST", lambda w: f"/api/v1/volunteers/{w.pending_id}/approve", None,
     {"worker_a"}, {"worker_b": 404, "*": 403}),
    ("volunteers.reject", "POST", lambda w: f"/api/v1/volunteers/{w.pending_id}/reject", lambda w: {"reason": "资料不全"},
     {"worker_a"}, {"worker_b": 404, "*": 403}),
    ("admin.districts.list", "GET", lambda w: "/api/v1/admin/districts", None, {"admin"}, 403),
    ("admin.districts.create", "POST", lambda w: "/api/v1/admin/districts", _district_body, {"admin"}, 403),
    ("admin.districts.patch", "PATCH", lambda w: f"/api/v1/admin/districts/{w.spare_district.id}", lambda w: {"name": "改名"}, {"admin"}, 403),
    ("admin.districts.delete", "DELETE", lambda w: f"/api/v1/admin/districts/{w.spare_district.id}", None, {"admin"}, 403),
    ("admin.stations.list", "GET", lambda w: "/api/v1/admin/stations", None, {"admin"}, 403),
    ("admin.stations.create", "POST", lambda w: "/api/v1/admin/stations",
     lambda w: {"district_id": w.a.district_id, "name": new_openid("s"), "town": "镇", "address": "路"}, {"admin"}, 403),
    ("admin.stations.patch", "PATCH", lambda w: f"/api/v1/admin/stations/{w.spare_station.id}", lambda w: {"town": "新镇"}, {"admin"}, 403),
    ("admin.stations.delete", "DELETE", lambda w: f"/api/v1/admin/stations/{w.spare_station.id}", None, {"admin"}, 403),
    ("admin.orgs.list", "GET", lambda w: "/api/v1/admin/organizations", None, {"admin"}, 403),
    ("admin.orgs.create", "POST", lambda w: "/api/v1/admin/organizations",
     lambda w: {"name": new_openid("org"), "kind": "charity"}, {"admin"}, 403),
    ("admin.staff.list", "GET", lambda w: "/api/v1/admin/staff", None, {"admin"}, 403),
    ("admin.staff.appoint", "POST", lambda w: "/api/v1/admin/staff",
     lambda w: {"user_id": w.sessions["resident"].id, "role": "worker", "station_id": w.b.id}, {"admin"}, 403),
    ("admin.staff.remove", "DELETE", lambda w: "/api/v1/admin/staff",
     lambda w: {"user_id": w.sessions["worker_b"].id, "role": "worker"}, {"admin"}, 403),
    # A roster checked (a dry run): workers for their station's rows, administrators for any.
    ("residents.imports.template", "GET", lambda w: "/api/v1/residents/imports/template", None,
     {"worker_a", "worker_b", "admin"}, 403),
    ("residents.imports", "POST", lambda w: "/api/v1/residents/imports", "roster", {"worker_a", "worker_b", "admin"}, 403),
    # A console login's code, scanned: any worker or administrator may let that browser in.
    ("console.tickets.approve", "POST", lambda w: "/api/v1/console/tickets/approve",
     lambda w: {"ticket": w.console_ticket}, {"worker_a", "worker_b", "admin"}, 403),
    # A district's own standards of the city catalogue (station A's district).
    ("admin.district_services.list", "GET", lambda w: f"/api/v1/admin/districts/{w.a.district_id}/services", None,
     {"admin"}, 403),
    ("admin.district_services.set", "PUT", lambda w: f"/api/v1/admin/districts/{w.a.district_id}/services/CLEAN_HOME",
     lambda w: {"offered": True, "points_per_hour": 12, "description": "每次不少于1小时"}, {"admin"}, 403),
]

# District administrators (matrix_support.with_districts): district_a keeps station A's district,
# district_b station B's. Another district's household, station or catalogue is a 404; what is
# the city's alone (districts, roles of district administrators) a 403.
DISTRICTS = {
    "healthz": ("ok", "ok"), "livez": ("ok", "ok"), "stations": ("ok", "ok"), "me": ("ok", "ok"),
    "me.phone": ("ok", "ok"), "me.resident": ("ok", "ok"), "me.volunteer": ("ok", "ok"), "me.close": ("ok", "ok"),
    "residents.list": (403, 403), "residents.create": (403, 403),
    "residents.get": ("ok", 404),
    # Seen, masked, but the station's to change (as for the city's administrators).
    "residents.edit": (403, 404), "residents.categories": (403, 404), "residents.exit": (403, 404),
    "residents.reinstate": (403, 404), "residents.unmasked": (403, 404),
    "residents.identity_cases": (403, 403), "residents.identity_cases.settle": (403, 403),
    "volunteers.list": (403, 403), "volunteers.approve": (403, 403), "volunteers.reject": (403, 403),
    "admin.districts.list": ("ok", "ok"), "admin.districts.create": (403, 403), "admin.districts.patch": (403, 403),
    "admin.districts.delete": (403, 403),
    "admin.stations.list": ("ok", "ok"), "admin.stations.create": ("ok", 404),
    "admin.stations.patch": ("ok", 404), "admin.stations.delete": ("ok", 404),
    "admin.orgs.list": ("ok", "ok"), "admin.orgs.create": ("ok", "ok"),
    "admin.staff.list": ("ok", "ok"),
    # A worker for station B; worker_b's role: district_b's to give and take, not district_a's.
    "admin.staff.appoint": (404, "ok"), "admin.staff.remove": (404, "ok"),
    "residents.imports.template": (403, 403), "residents.imports": (403, 403),
    "console.tickets.approve": ("ok", "ok"),
    "admin.district_services.list": ("ok", 404), "admin.district_services.set": ("ok", 404),
}
ROUTES_BY_ROLE = with_districts(ROUTES, DISTRICTS)


async def _build_world(client, api):
    from models import District
    from tests.builders import bulk_volunteers, fast_login, make_organization, make_station

    a, b = await station_apart(), await station_apart()
    spare_district = await unique_district()
    spare_station = await make_station(district=await District.get(id=a.district_id))
    worker_a = await fast_login(api, "worker", station_id=a.id)
    worker_b = await fast_login(api, "worker", station_id=b.id)
    owner = await fast_login(api)
    owned = resident_payload(a)
    r = await client.put("/api/v1/me/resident", json=owned, headers=owner.headers)
    # Someone else registering the owner's ID number: an identity case for station A.
    claimant = await fast_login(api)
    c = await client.put("/api/v1/me/resident", json=resident_payload(a, id_number=owned["id_number"]),
                         headers=claimant.headers)
    assert c.status_code == 200, c.text
    case = await IdentityCase.get(claimant_id=c.json()["id"])
    applicant = await fast_login(api)
    p = await client.put("/api/v1/me/volunteer", json=volunteer_payload(a), headers=applicant.headers)
    (volunteer,) = await bulk_volunteers(api, a, 1)
    sessions = {
        "resident": await fast_login(api),
        "owner": owner,
        "volunteer": volunteer,
        "worker_a": worker_a,
        "worker_b": worker_b,
        "org_staff": await fast_login(api, "org_staff", organization_id=(await make_organization()).id),
        "admin": await fast_login(api, "admin"),
        **await district_sessions(api, a, b),
    }
    # A browser waiting on the console's login page; the world's own, so each approval is a first.
    ticket = await console_tickets.create_ticket(redis=api.app.ctx.redis.aio, prefix=api.settings.redis_prefix,
                                                 browser=None, now=api.app.ctx.clock())
    return SimpleNamespace(a=a, b=b, sessions=sessions, resident_id=r.json()["id"], pending_id=p.json()["id"], case_id=case.id,
                           spare_district=spare_district, spare_station=spare_station, console_ticket=ticket.scene)


@pytest.fixture(scope="module")
async def worlds(api, reset_state):
    await reset_state()  # the module starts from empty tables, as each test did
    return Worlds(api, reset_state, _build_world)


def _roster(world) -> bytes:
    """A one-row roster of station A (checked, not imported: the route's default is a dry run)."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["姓名", "身份证号", "所属驿站"])
    book.active.append(["王秀英", random_id_number(), str(world.a.id)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES_BY_ROLE, ids=[r[0] for r in ROUTES_BY_ROLE])
async def test_route_by_role(client, world, route, role):
    name, method, path, body, allowed, denied = route
    headers = world.sessions[role].headers if role != "anonymous" else {}
    if body == "roster":
        r = await client.request(method, path(world), files={"file": ("roster.xlsx", _roster(world), "application/octet-stream")},
                                 headers=headers)
    else:
        r = await client.request(method, path(world), json=body(world) if body else None, headers=headers)
    if role in allowed:
        assert 200 <= r.status_code < 300, f"{name} as {role}: {r.status_code} {r.text}"
    elif role == "anonymous":
        assert r.status_code == 401, f"{name} anonymous: {r.status_code}"
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    else:
        expected = denied.get(role, denied.get("*")) if isinstance(denied, dict) else denied
        assert r.status_code == expected, f"{name} as {role}: {r.status_code} {r.text}"
        assert "error" in r.json()


@pytest.mark.parametrize("route", [r for r in ROUTES if callable(r[3])], ids=[r[0] for r in ROUTES if callable(r[3])])
async def test_mass_assignment_is_refused(client, world, route):
    from tests.handlers.access.matrix_support import assert_mass_assignment_refused, first_allowed

    name, method, path, body, allowed, denied = route
    role = first_allowed(allowed)
    await assert_mass_assignment_refused(client, method, path(world), body(world), world.sessions[role].headers)
