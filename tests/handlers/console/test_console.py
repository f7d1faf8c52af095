"""The staff console's first page and its session: a worker logs in (embedded mode's demo door),
sees what waits for the station, and logs out; the session is a cookie only this console reads,
ends with the account's token version, and every page forbids what a CDN or a frame would need."""

import dataclasses
import re
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.builders import make_admin, make_need, make_resident, make_station, make_volunteer, make_worker


@asynccontextmanager
async def console_client(api, openid: str):
    """A browser of its own (its own cookie jar), logged in to the console as ``openid``."""
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
        r = await c.get("/console/dev-login", params={"code": f"fake:{openid}"})
        assert r.status_code == 302 and r.headers["location"] == "/console/", r.text
        yield c


def desk_counts(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'data-name="(\w+)">(\d+)<', page)}


async def test_a_worker_sees_what_waits_for_the_station(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)
    await make_volunteer(client, station)  # an application, not yet reviewed
    other = await make_station()  # another station's work is not this desk's
    await make_need(client, (await make_resident(client, other))[0])

    async with console_client(api, worker.openid) as c:
        r = await c.get("/console/")
        assert r.status_code == 200, r.text
        counts = desk_counts(r.text)
        assert counts == {"needs_to_accept": 1, "records_to_confirm": 0, "unclaimed_soon": 0, "follow_ups": 0,
                          "volunteer_applications": 1}
        assert "待受理需求" in r.text and "工作台" in r.text
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["cache-control"] == "no-store"
        assert re.fullmatch(r"app;dur=\d+\.\d", r.headers["server-timing"])  # what scripts/bench reads


async def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(api, client):
    worker = await make_worker(client, await make_station())
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
        r = await c.get("/console/dev-login", params={"code": f"fake:{worker.openid}"})
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("haibei_console=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        # The API does not take it: its routes want a bearer token.
        assert (await c.get("/api/v1/me")).status_code == 401


async def test_logging_out_needs_the_pages_csrf_token_and_ends_the_session(api, client):
    worker = await make_worker(client, await make_station())
    async with console_client(api, worker.openid) as c:
        page = (await c.get("/console/")).text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
        assert (await c.post("/console/logout")).status_code == 403
        assert (await c.post("/console/logout", headers={"X-CSRF-Token": "x" + token})).status_code == 403
        assert (await c.get("/console/")).status_code == 200  # still logged in
        r = await c.post("/console/logout", headers={"X-CSRF-Token": token})
        assert r.status_code == 204 and r.headers["hx-redirect"] == "/console/login"
        r = await c.get("/console/")
        assert r.status_code == 401 and "未登录" in r.text


async def test_a_removed_role_closes_the_desk_and_a_closed_account_the_session(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    async with console_client(api, worker.openid) as c:
        assert (await c.get("/console/")).status_code == 200
        r = await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": worker.id, "role": "worker"},
                                 headers=admin.headers)
        assert r.status_code in (200, 204), r.text
        assert (await c.get("/console/")).status_code == 403  # at once: roles are read on every request
        # Closing the account moves its token version: the session is over, as its tokens are.
        r = await client.request("DELETE", "/api/v1/me", headers=worker.headers)
        assert r.status_code in (200, 204), r.text
        assert (await c.get("/console/")).status_code == 401


async def test_someone_who_is_not_a_worker_is_told_so(api, client):
    resident, _ = await make_resident(client, await make_station())
    async with console_client(api, resident.openid) as c:
        r = await c.get("/console/")
        assert r.status_code == 403 and "驿站工作人员" in r.text


async def test_without_a_session_the_desk_says_to_log_in(client):
    r = await client.get("/console/")
    assert r.status_code == 401 and "未登录" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


async def test_the_demo_door_is_not_there_in_production(api, client):
    worker = await make_worker(client, await make_station())
    embedded = api.app.ctx.settings
    api.app.ctx.settings = dataclasses.replace(embedded, mode="production")
    try:
        r = await client.get("/console/dev-login", params={"code": f"fake:{worker.openid}"})
    finally:
        api.app.ctx.settings = embedded
    assert r.status_code == 404 and "set-cookie" not in r.headers


@pytest.mark.parametrize("name", ["console.css", "console.js", "vendor/htmx-2.0.4.min.js",
                                  "vendor/echarts-5.6.0.min.js"])
async def test_every_asset_is_served_by_the_app(client, name):
    r = await client.get(f"/console/static/{name}")
    assert r.status_code == 200 and len(r.content) > 100


async def test_nothing_else_is_served_and_no_page_loads_from_elsewhere(api, client):
    for name in ("vendor/htmx-LICENSE.txt", "../pages.py", "templates/base.html"):
        assert (await client.get(f"/console/static/{name}")).status_code == 404
    worker = await make_worker(client, await make_station())
    async with console_client(api, worker.openid) as c:
        page = (await c.get("/console/")).text
    assert not re.search(r"(src|href)=\"(https?:)?//", page), page
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert ref.startswith(("/console/", "#")), ref
    assets = re.findall(r'(?:<script src|<link rel="stylesheet" href)="([^"]+)"', page)
    assert len(assets) >= 3
    for ref in assets:
        assert ref.startswith("/console/static/") and (await client.get(ref)).status_code == 200, ref


async def test_the_desk_lists_the_tasks_starting_soon_that_want_volunteers(api, client):
    from tests.builders import make_task, soon

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    await make_task(client, worker, need, title="上午打扫", scheduled_start=soon(60).isoformat(),
                    scheduled_end=soon(120).isoformat())
    later = await make_need(client, resident, service_code="LIVING_SHOP")
    await make_task(client, worker, later, title="下周代购", scheduled_start=soon(60 * 24 * 3).isoformat(),
                    scheduled_end=soon(60 * 24 * 3 + 60).isoformat())
    async with console_client(api, worker.openid) as c:
        page = (await c.get("/console/")).text
    assert desk_counts(page)["unclaimed_soon"] == 1
    listed = page[page.index('id="soon"'):]
    assert "上午打扫" in listed and "下周代购" not in listed and "0/1" in listed
