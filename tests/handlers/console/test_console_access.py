"""Who may open which console page, for every console route the app serves (read from its router,
so a page added later is checked too): a resident or volunteer session is refused everywhere, a
worker of another station finds nothing by id, no state changes without the page's CSRF token."""

from __future__ import annotations

import re

import httpx

from models import Complaint, Need, Task, VolunteerProfile
from tests.builders import (
    make_open_task_and_volunteer, make_resident, make_station, make_volunteer, make_worker, serve_and_record,
)
from tests.handlers.console.support import console_browser

# Doors that are open before a session exists, by design: the assets, the login pages, logout
# (which ends whatever session it is given).
OPEN_DOORS = ("console/static", "console/dev-login", "console/login", "console/logout")


def console_routes(app) -> list[tuple[str, str]]:
    out = set()
    for route in app.router.routes:
        path = route.path.lstrip("/")
        if path.startswith("console") and not path.startswith(OPEN_DOORS):
            for method in route.methods:
                if method in ("GET", "POST"):
                    out.add((method, "/" + path))
    return sorted(out)


PARAM = re.compile(r"<(\w+)(?::([^>]*))?>")


def fill(path: str, ids: dict[str, int | str]) -> str:
    def value(m: re.Match) -> str:
        ext = re.match(r"ext=(\w+)", m.group(2) or "")
        return f"{ids.get(m.group(1), 1)}" + (f".{ext.group(1)}" if ext else "")
    return PARAM.sub(value, path)


def valid_form(path: str) -> dict[str, str]:
    """A form each action would accept, so that only the record's station can refuse it."""
    if path.endswith("/tasks"):
        return {"title": "打扫", "scheduled_start": "2030-01-01T09:00", "scheduled_end": "2030-01-01T10:00"}
    if path.endswith("/report"):
        return {"service_code": "CLEAN_HOME", "description": "需要打扫"}
    if path.endswith("/confirm"):
        return {"minutes": "30"}
    if path.endswith(("/reject", "/reveal", "/reopen")):
        return {"reason": "核实情况"}
    if path.endswith("/answer"):
        return {"text": "已核实处理"}
    if path.endswith("/complaints"):
        return {"subject": "station", "text": "代老人投诉"}
    if path.endswith("/delivery-way"):
        return {"delivery_way": "neighbour"}
    if path.endswith("/department-referral"):
        return {"department_id": "1", "note": "请部门上门"}
    if path.endswith("/outcome"):
        return {"outcome": "returned", "note": "部门无法安排"}
    if path.endswith("/neighbour"):
        return {"volunteer_id": "1"}
    if path.endswith("/neighbour-helpers"):
        return {"volunteer_id": "1", "note": "同楼邻居"}
    return {}


async def world(client):
    """Station A with a household, a need, a submitted record, a volunteer and a complaint; B's worker."""
    a = await make_station()
    task, need, worker_a, resident, volunteer = await make_open_task_and_volunteer(client, a)
    await serve_and_record(client, task["id"], volunteer)
    worker_b = await make_worker(client, await make_station())
    claim_volunteer = (await Task.get(id=task["id"]).prefetch_related("claims")).claims[0].volunteer_id
    r = await client.post("/api/v1/complaints", headers=resident.headers,
                          json={"subject": "station", "text": "无人回复"})
    assert r.status_code == 201, r.text
    ids = {"need_id": need["id"], "resident_id": need["resident_id"], "task_id": task["id"],
           "volunteer_id": claim_volunteer, "complaint_id": r.json()["id"], "kind": "needs"}
    return a, worker_a, worker_b, resident, volunteer, ids


async def test_the_console_knows_its_routes(api):
    routes = console_routes(api.app)
    paths = {p for _, p in routes}
    for expected in ("/console/needs", "/console/needs/<need_id:int>", "/console/records",
                     "/console/households/<resident_id:int>", "/console/volunteers/<volunteer_id:int>",
                     "/console/complaints", "/console/complaints/<complaint_id:int>",
                     "/console/admin/credit", "/console/admin/credit/batches",
                     "/console/admin/credit/batches/<batch_id:int>",
                     "/console/admin/credit/batches/<batch_id:int>/transfer"):
        assert expected in paths


async def test_a_resident_or_volunteer_session_is_refused_on_every_page(api, client):
    _, _, _, resident, volunteer, ids = await world(client)
    for session in (resident, volunteer):
        async with console_browser(api, session.openid) as b:
            page = await b.get("/console/")
            assert page.status_code == 403 and b.csrf  # a session, with its token: refused for its role
            for method, path in console_routes(api.app):
                url = fill(path, ids)
                r = await (b.get(url) if method == "GET" else b.post(url, {"reason": "x"}))
                assert r.status_code == 403, (method, url, r.status_code)


async def test_without_a_session_every_page_asks_to_log_in(api, client):
    for method, path in console_routes(api.app):
        r = await client.request(method, fill(path, {}))
        assert r.status_code == 401, (method, path, r.status_code)


async def test_another_stations_worker_finds_none_of_its_records_by_id(api, client):
    _, worker_a, worker_b, _, _, ids = await world(client)
    mine = {"need_id", "resident_id", "task_id", "volunteer_id", "complaint_id"}
    checked = 0
    async with console_browser(api, worker_b.openid) as b:
        for method, path in console_routes(api.app):
            names = {name for name, _ in PARAM.findall(path)}
            if not names & mine or path.startswith("/console/admin"):
                continue
            url = fill(path, ids)
            r = await (b.get(url) if method == "GET" else b.post(url, valid_form(path)))
            assert r.status_code == 404, (method, url, r.status_code)
            checked += 1
    assert checked >= 10
    # Nothing moved: A's need is still dispatched, its record still waits, its complaint is unanswered
    # and no other was filed for its household.
    assert (await Task.get(id=ids["task_id"])).status == "submitted"
    assert [(c.id, c.status) for c in await Complaint.all()] == [(ids["complaint_id"], "open")]
    async with console_browser(api, worker_a.openid) as b:  # and A's own worker does see them
        for url in (f"/console/needs/{ids['need_id']}", f"/console/households/{ids['resident_id']}",
                    f"/console/volunteers/{ids['volunteer_id']}", f"/console/complaints/{ids['complaint_id']}"):
            assert (await b.get(url)).status_code == 200, url


async def test_no_state_changes_without_the_pages_csrf_token(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    r = await client.post("/api/v1/needs", headers=resident.headers,
                          json={"service_code": "CLEAN_HOME", "description": "需要打扫"})
    need_id = r.json()["id"]
    _, applicant = await make_volunteer(client, station)
    async with console_browser(api, worker.openid) as b:
        await b.get("/console/")
        for url in (f"/console/needs/{need_id}/accept", f"/console/volunteers/{applicant['id']}/approve"):
            r = await b.post(url, csrf=False)
            assert r.status_code == 403 and "请求已失效" in r.text, url
            b.csrf, real = "forged", b.csrf
            r = await b.post(url)
            assert r.status_code == 403, url
            b.csrf = real
    assert (await Need.get(id=need_id)).status == "submitted"
    assert (await VolunteerProfile.get(id=applicant["id"])).status == "pending"
    # A cross-site form cannot carry the header; SameSite=Strict keeps the cookie home as well.
    async with httpx.AsyncClient(base_url=api.url) as other:
        assert (await other.post(f"/console/needs/{need_id}/accept")).status_code == 401


HOSTILE_FORMS = [
    b"%ZZ=%E0%A4%A&&&=",                             # broken escapes, empty names
    b"reason=" + b"\xff\xfe" * 50,                  # not UTF-8
    b"minutes=" + b"9" * 5000,                       # a number no field holds
    b"ids=" + b"&ids=".join(b"%d" % i for i in range(10**6, 10**6 + 300)) + b"&ids=99999999999999999999999",
    b"reason=%00%E2%80%AE%E2%80%8B&title=%00&scheduled_start=9999-99-99T99:99",
    b'{"reason": ' * 200,                            # JSON where a form is expected
    b"q=" + b"1" * 100 + b"&page=-1&category=" + b"x" * 500,
]


async def test_hostile_forms_are_refused_plainly_on_every_console_form(api, client):
    """Every console form under a worker's session: whatever is posted, a page, never a 500."""
    _, worker_a, _, _, _, ids = await world(client)
    posts = [path for method, path in console_routes(api.app) if method == "POST"]
    assert len(posts) >= 10
    async with console_browser(api, worker_a.openid) as b:
        await b.get("/console/")
        for path in posts:
            for body in HOSTILE_FORMS:
                r = await b.client.post(fill(path, ids), content=body, headers={
                    "X-CSRF-Token": b.csrf, "HX-Request": "true",
                    "Content-Type": "application/x-www-form-urlencoded"})
                assert r.status_code < 500, (path, body[:40], r.status_code, r.text[:300])


async def test_another_districts_administrator_finds_none_of_its_records_by_id(api, client):
    """Every console page that takes an id a district administrator may open: another district's
    administrator gets 404 for station A's district's records, its own gets them."""
    from datetime import datetime, timedelta, timezone

    from models import District, Project
    from tests.builders import grant, login, make_district, make_organization, new_openid

    a, _, _, _, _, ids = await world(client)
    mine = await District.get(id=a.district_id)
    org = await make_organization(district_id=mine.id)
    now = datetime.now(timezone.utc)
    project = await Project.create(name="本区项目", organization_id=org.id, budget_fen=100, created_by=1,
                                   starts_at=now, ends_at=now + timedelta(days=30), services=["CLEAN_HOME"],
                                   station_ids=[a.id], district_id=mine.id)
    ids = {**ids, "organization_id": org.id, "project_id": project.id, "district_id": mine.id, "code": "CLEAN_HOME"}
    own = await grant(await login(client, new_openid("district")), "district_admin", district_id=mine.id)
    other = await grant(await login(client, new_openid("district")), "district_admin",
                        district_id=(await make_district()).id)
    theirs = {"complaint_id", "organization_id", "project_id", "district_id"}
    checked = []
    async with console_browser(api, other.openid) as b:
        for method, path in console_routes(api.app):
            names = {name for name, _ in PARAM.findall(path)}
            if not names & theirs:
                continue
            r = await (b.get(fill(path, ids)) if method == "GET" else b.post(fill(path, ids), valid_form(path)))
            if r.status_code == 403 and "工作台供驿站工作人员使用" in r.text:
                continue  # a station's own page (answering, accepting): no administrator's
            assert r.status_code == 404, (method, path, r.status_code)
            checked.append(path)
    assert len(checked) >= 8, checked
    async with console_browser(api, own.openid) as b:
        for url in (f"/console/complaints/{ids['complaint_id']}", f"/console/admin/organizations/{org.id}",
                    f"/console/admin/projects/{project.id}", "/console/admin/district-services"):
            r = await b.get(url)
            assert r.status_code == 200, (url, r.status_code)
