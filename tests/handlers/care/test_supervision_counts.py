"""Supervision in the statistics and the project KPIs, over HTTP: the overview counts complaints
(filed in the period; open, overdue, escalated and resolved as of the app's clock), the exits of
the period by reason under their Chinese labels, and the re-assessments due, scoped like the rest
(a station, a district, the city; one with none shows zeros); a project counts the complaints about
its own tasks and their needs, and keeps the low ratings apart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models import Need, Task
from server import labels
from tests.builders import (
    clock_moved, make_admin, make_district, make_need, make_resident, make_station, make_task, make_volunteer,
    make_worker,
)
from tests.handlers.care.test_assessments import HARD, assess

DAY = 24 * 60


def window() -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


async def complain(client, session, **body) -> dict:
    r = await client.post("/api/v1/complaints", json=body, headers=session.headers)
    assert r.status_code == 201, r.text
    return r.json()


def exits_by_reason(**n: int) -> dict[str, dict]:
    return {code: {"label": label, "n": n.get(code, 0)} for code, label in labels.EXIT_REASON.items()}


NONE = {"complaints": {"filed": 0, "open": 0, "overdue": 0, "escalated": 0, "resolved": 0},
        "exits": {"total": 0, "by_reason": exits_by_reason()},
        "reassessments": {"overdue": 0, "due_soon": 0}}


def supervision(body: dict) -> dict:
    return {key: body[key] for key in ("complaints", "exits", "reassessments")}


async def test_the_overview_counts_complaints_exits_and_reassessments_in_its_scope(api, client):
    near = await make_district(name="环翠区")
    station, sister, empty = await make_station(near), await make_station(near), await make_station()
    worker = await make_worker(client, station)
    sister_worker = await make_worker(client, sister)
    admin = await make_admin(client)

    # Station: one complaint left open (overdue once the clock moves on), one answered and accepted.
    left, _ = await make_resident(client, station)
    await complain(client, left, subject="station", text="一直没人上门")
    served, served_home = await make_resident(client, station)
    need = await make_need(client, served)
    done = await complain(client, served, subject="service", subject_id=need["id"], text="志愿者迟到一个小时")
    assert (await client.post(f"/api/v1/complaints/{done['id']}/answer", json={"text": "已核实,向您致歉"},
                              headers=worker.headers)).status_code == 200
    assert (await client.post(f"/api/v1/complaints/{done['id']}/accept", headers=served.headers)).status_code == 200
    # Two households leave; a third leaves and is brought back (not an exit any more), due at once.
    for reason in ("moved_away", "deceased"):
        _, home = await make_resident(client, station)
        r = await client.post(f"/api/v1/residents/{home['id']}/exit", json={"reason": reason}, headers=worker.headers)
        assert r.status_code == 200, r.text
    _, back = await make_resident(client, station)
    await assess(client, worker, back["id"], HARD)
    assert (await client.post(f"/api/v1/residents/{back['id']}/exit", json={"reason": "not_eligible"},
                              headers=worker.headers)).status_code == 200
    assert (await client.post(f"/api/v1/residents/{back['id']}/reinstate", headers=worker.headers)).status_code == 200
    # 特别困难: due again in three months, within the reminder's week 86 days on.
    await assess(client, worker, served_home["id"], HARD)

    # The sister station of the district: a volunteer's complaint reopened twice, up to the district.
    volunteer, _ = await make_volunteer(client, sister, approved_by=sister_worker)
    up = await complain(client, volunteer, subject="station", text="积分迟迟未到账")
    for _ in range(2):
        await client.post(f"/api/v1/complaints/{up['id']}/answer", json={"text": "正在核实"}, headers=sister_worker.headers)
        r = await client.post(f"/api/v1/complaints/{up['id']}/reopen", json={"reason": "仍未解决"}, headers=volunteer.headers)
    assert r.json()["status"] == "escalated"

    period = window()
    with clock_moved(86 * DAY, api.app):
        mine = await client.get("/api/v1/stats/overview", params={"scope": "station", **period}, headers=worker.headers)
        city = await client.get("/api/v1/stats/overview", params={"scope": "city", **period}, headers=admin.headers)
        district = await client.get("/api/v1/stats/overview", params={"scope": "district", "id": near.id, **period},
                                    headers=admin.headers)
        other_district = await client.get("/api/v1/stats/overview",
                                          params={"scope": "district", "id": empty.district_id, **period},
                                          headers=admin.headers)
        nothing = await client.get("/api/v1/stats/overview", params={"scope": "station", "id": empty.id, **period},
                                   headers=admin.headers)
    for r in (mine, city, district, other_district, nothing):
        assert r.status_code == 200, r.text

    exits = {"total": 2, "by_reason": exits_by_reason(moved_away=1, deceased=1)}
    assert supervision(mine.json()) == {
        "complaints": {"filed": 2, "open": 1, "overdue": 1, "escalated": 0, "resolved": 1},
        "exits": exits, "reassessments": {"overdue": 1, "due_soon": 1}}
    assert mine.json()["exits"]["by_reason"]["moved_away"] == {"label": "迁出本辖区", "n": 1}
    both = {"complaints": {"filed": 3, "open": 1, "overdue": 1, "escalated": 1, "resolved": 1},
            "exits": exits, "reassessments": {"overdue": 1, "due_soon": 1}}
    assert supervision(city.json()) == both
    assert supervision(district.json()) == both
    assert supervision(other_district.json()) == NONE
    assert supervision(nothing.json()) == NONE
    # Over several stations, station by station, by name; the parts add up to the whole.
    rows = {row["station_name"]: row for row in district.json()["by_station"]}
    assert set(rows) == {station.name, sister.name}
    assert rows[station.name]["complaints"] == {"filed": 2, "open": 1, "overdue": 1, "escalated": 0, "resolved": 1}
    assert rows[sister.name]["complaints"] == {"filed": 1, "open": 0, "overdue": 0, "escalated": 1, "resolved": 0}
    for key in ("filed", "open", "overdue", "escalated", "resolved"):
        assert sum(row["complaints"][key] for row in rows.values()) == district.json()["complaints"][key]
    assert [row["station_name"] for row in city.json()["by_station"]] == [station.name, sister.name]
    assert "by_station" not in mine.json() and other_district.json()["by_station"] == []
    assert mine.json()["deadlines"] == {kind: {"label": label, "reminded": 0, "escalated": 0}
                                        for kind, label in labels.DEADLINE_KIND.items()}

    # Filed and exits are of the period: a period before any of it counts none of them.
    before = {"from": (datetime.now(timezone.utc) - timedelta(days=3)).isoformat(),
              "to": (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()}
    earlier = (await client.get("/api/v1/stats/overview", params={"scope": "station", **before},
                                headers=worker.headers)).json()
    assert earlier["complaints"]["filed"] == 0 and earlier["exits"]["total"] == 0
    # As of the real clock: nothing overdue yet, the brought-back household's visit is due at once.
    assert earlier["complaints"]["open"] == 1 and earlier["complaints"]["overdue"] == 0
    assert earlier["reassessments"] == {"overdue": 1, "due_soon": 0}


async def test_a_project_counts_the_complaints_about_its_own_tasks(api, client):
    from tests.handlers.care.test_projects import cleaning_project, serve

    admin, station, worker, volunteer, _, created = await cleaning_project(client, "居家清洁服务项目", 1_000_000)
    assert created.status_code == 201, created.text
    project = created.json()
    complained_of = await serve(client, worker, volunteer, station, 15, 2)  # rated 2: a low rating
    need_served = await serve(client, worker, volunteer, station, 10, 5)
    for task_id, subject in ((complained_of, "task"), (need_served, "service")):
        task = await Task.get(id=task_id)
        await complain(client, worker, subject=subject, subject_id=task_id if subject == "task" else task.need_id,
                       resident_id=(await Need.get(id=task.need_id)).resident_id, text="服务不到位")
    # Not the project's: a task of another service at the station, and one of another station.
    resident, home = await make_resident(client, station)
    meal = await make_task(client, worker, await make_need(client, resident, service_code="LIVING_MEAL"))
    await complain(client, worker, subject="task", subject_id=meal["id"], resident_id=home["id"], text="送餐太晚")
    elsewhere = await make_station()
    their_worker = await make_worker(client, elsewhere)
    their_resident, their_home = await make_resident(client, elsewhere)
    theirs = await make_task(client, their_worker, await make_need(client, their_resident))
    await complain(client, their_worker, subject="task", subject_id=theirs["id"], resident_id=their_home["id"],
                   text="保洁不彻底")
    await complain(client, worker, subject="station", resident_id=home["id"], text="驿站电话打不通")

    kpis = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()["kpis"]
    assert kpis["tasks"] == 2
    assert kpis["complaints"] == 2
    assert kpis["low_ratings"] == 1
    assert set(kpis) == set(labels.PROJECT_KPI)
