"""Every page of the console in Chromium, as a worker and as an administrator: each opens (200),
draws without a script error, fetches nothing from outside 127.0.0.1, and leaves its screenshot
under var/screenshots/ (tour-*.png) to look at."""

from __future__ import annotations

from tests.builders import (
    make_admin, make_need, make_open_task_and_volunteer, make_resident, make_station, make_volunteer,
    serve_and_record,
)
from tests.handlers.care.test_assessments import HARD, assess
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)

WORKER_PAGES = ["/console/", "/console/needs", "/console/records", "/console/households", "/console/reassessments",
                "/console/households/import", "/console/volunteers",
                "/console/pairings", "/console/referrals", "/console/complaints", "/console/rewards", "/console/stats",
                "/console/ledgers"]
ADMIN_PAGES = ["/console/stats", "/console/ledgers", "/console/complaints", "/console/admin/stations",
               "/console/admin/staff",
               "/console/admin/services", "/console/admin/rewards", "/console/admin/organizations",
               "/console/admin/projects", "/console/admin/policies", "/console/admin/points-rules",
               "/console/admin/questionnaire", "/console/admin/dead-letters"]


async def visit(w: Watched, base: str, path: str, name: str) -> None:
    r = await w.page.goto(base + path)
    assert r is not None and r.status == 200, (path, r.status if r else None)
    await w.page.wait_for_load_state("networkidle")
    assert await w.page.locator("h1").count() >= 1, path
    await w.shot(f"tour-{name}")


async def test_a_worker_tours_every_page(api, client, browser):  # noqa: F811
    station = await make_station(name="鲸园驿站")
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer)
    await make_volunteer(client, station, name="钱志愿")  # an application waiting
    await make_need(client, (await make_resident(client, station))[0], urgency="urgent")
    await assess(client, worker, need["resident_id"], HARD)
    volunteer_id = (await client.get(f"/api/v1/tasks/{task['id']}", headers=worker.headers)).json()["claims"][0][
        "volunteer_id"]
    r = await client.post("/api/v1/complaints", headers=worker.headers, json={  # 代为投诉, about the task
        "subject": "task", "subject_id": task["id"], "text": "志愿者没有按时上门", "resident_id": need["resident_id"]})
    assert r.status_code == 201, r.text

    w = await Watched.open(browser)
    await w.page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    pages = WORKER_PAGES + [f"/console/needs/{need['id']}", f"/console/households/{need['resident_id']}",
                            f"/console/households/{need['resident_id']}/report",
                            f"/console/households/{need['resident_id']}/assess", f"/console/volunteers/{volunteer_id}",
                            f"/console/complaints/{r.json()['id']}"]
    for path in pages:
        name = "worker-" + (path.strip("/").replace("/", "-").replace("console", "", 1).strip("-") or "desk")
        await visit(w, api.url, path, name)
    w.clean()


async def test_an_administrator_tours_every_page(api, client, browser):  # noqa: F811
    admin = await make_admin(client)
    await make_station(name="竹岛驿站")
    w = await Watched.open(browser)
    await w.page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    assert w.page.url == f"{api.url}/console/stats"  # an administrator starts from the statistics
    for path in ADMIN_PAGES:
        await visit(w, api.url, path, "admin-" + path.strip("/").replace("/", "-").replace("console-", "", 1))
    w.clean()
