"""Purchased-service projects: lifecycle by admins, KPIs equal values computed here from the tasks."""

from datetime import datetime, timedelta, timezone
from statistics import median

from models import Need, ProjectStep, Task, TaskClaim
from server.workflow import referrals
from tests.builders import (
    grant, make_admin, make_need, make_organization, make_resident, make_station, make_task, make_volunteer, make_worker,
    record_after,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def serve(client, worker, volunteer, station, minutes, score):
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    task = await make_task(client, worker, need)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    await record_after(client, task["id"], volunteer, minutes)
    # The services here are short (under 居室保洁's minimum of 30): the worker says why.
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"reason": "短时服务,已电话回访核实"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    if score:
        await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": score, "would_use_again": score > 2},
                          headers=resident.headers)
    return task["id"]


async def qualified_organization(*, expires: str = "2030-01-01T00:00:00+08:00", **overrides):
    """A provider holding every qualification 机制二 asks, valid until ``expires``."""
    quals = [{"kind": k, "document": f"{k}.pdf", "expires_at": expires} for k in referrals.QUALIFICATIONS]
    return await make_organization(qualifications=quals, **overrides)


async def cleaning_project(client, name: str, budget_fen: int):
    """A running project for home cleaning at a new station, with its worker and a volunteer:
    (admin, station, worker, volunteer, organisation, the create response)."""
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    org = await qualified_organization()
    # The provider's own person: only its people's services count toward its KPIs.
    await grant(volunteer, "org_staff", organization_id=org.id)
    now = datetime.now(timezone.utc)
    r = await client.post("/api/v1/admin/projects", json={
        "name": name, "organization_id": org.id, "budget_fen": budget_fen,
        "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat(),
        "services": ["CLEAN_HOME"], "station_ids": [station.id]}, headers=admin.headers)
    return admin, station, worker, volunteer, org, r


async def test_project_lifecycle_and_kpis_from_real_tasks(client, api):
    admin, station, worker, volunteer, org, r = await cleaning_project(client, "鲸园街道居家清洁服务项目", 5_000_000)
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["status"] == "proposed" and project["kpis"]["tasks"] == 0

    done = [await serve(client, worker, volunteer, station, m, s) for m, s in ((15, 5), (10, 2))]
    # Out of scope: another service at the station.
    resident, _ = await make_resident(client, station)
    await make_task(client, worker, await make_need(client, resident, service_code="LIVING_MEAL"))

    # Independently computed expectations.
    claims = await TaskClaim.filter(task_id__in=done)
    tasks = {t.id: t for t in await Task.filter(id__in=done)}
    needs = {n.id: n for n in await Need.filter(id__in=[t.need_id for t in tasks.values()])}
    expected = {
        "tasks": 2, "tasks_done": 2,
        "verified_hours": round(sum(c.verified_minutes for c in claims) / 60, 2),
        "on_time_rate": 1.0,
        "median_minutes_to_first_service": round(median(
            (c.checked_in_at - needs[tasks[c.task_id].need_id].created_at).total_seconds() / 60 for c in claims), 1),
        "average_rating": 3.5, "complaints": 0, "low_ratings": 1,
    }
    assert expected["verified_hours"] == round(25 / 60, 2)

    targets = {"tasks_done": 2, "on_time_rate": 0.9, "complaints": 0}
    for to, note in (("approved", "立项批复"), ("in_progress", "开始实施"), ("acceptance_pending", "申请验收")):
        r = await client.post(f"/api/v1/admin/projects/{project['id']}/steps",
                              json={"to": to, "note": note, **({"targets": targets} if to == "approved" else {})},
                              headers=admin.headers)
        assert r.status_code == 200, r.text
    assert_error(await client.post(f"/api/v1/admin/projects/{project['id']}/steps", json={"to": "approved", "note": "x"},
                                   headers=admin.headers), 409, "INVALID_STATE")
    r = await client.post(f"/api/v1/admin/projects/{project['id']}/steps",
                          json={"to": "accepted", "note": "验收通过", "documents": ["验收报告.pdf"]}, headers=admin.headers)
    body = r.json()
    assert body["status"] == "accepted" and body["kpis"] == {**expected, "referrals_accepted": 0}
    assert [(c["label"], c["target"], c["actual"], c["met"]) for c in body["comparison"]] == [
        ("完成任务", 2, 2, True), ("准时率", 0.9, 1.0, True), ("投诉数", 0, 0, True)]
    assert [s["to"] for s in body["steps"]] == ["proposed", "approved", "in_progress", "acceptance_pending", "accepted"]
    final = await ProjectStep.filter(project_id=project["id"], to_status="accepted").first()
    assert final.kpis == {**expected, "referrals_accepted": 0} and final.documents == ["验收报告.pdf"]
    assert_error(await client.post(f"/api/v1/admin/projects/{project['id']}/steps", json={"to": "failed", "note": "x"},
                                   headers=worker.headers), 403, "FORBIDDEN")


async def test_a_reversed_service_leaves_the_projects_kpis(client):
    """A service whose award a station took back did not count (the ledgers, the statistics and
    the volunteer's own hours say so); the KPIs a project is accepted on (保障四 后期验收) agree."""
    from models import PointsEntry

    admin, station, worker, volunteer, _, r = await cleaning_project(client, "居家清洁服务项目", 1_000_000)
    project = r.json()
    kept = await serve(client, worker, volunteer, station, 15, None)
    taken_back = await serve(client, worker, volunteer, station, 10, None)
    award = await PointsEntry.get(kind="service_award", ref_type="claim",
                                  ref_id=(await TaskClaim.get(task_id=taken_back)).id)
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text

    kpis = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()["kpis"]
    served = await TaskClaim.get(task_id=kept)
    # The task taken back is no longer the provider's served work at all.
    assert kpis["tasks"] == 1
    assert kpis["tasks_done"] == 1
    assert kpis["verified_hours"] == round(served.verified_minutes / 60, 2)


async def test_a_project_naming_an_unknown_service_or_station_is_refused(client):
    """A mistyped service code or station id made a project that could never count a task (KPIs
    all zero at acceptance); it is a payload error and nothing is saved."""
    from models import Project

    admin = await make_admin(client)
    station = await make_station()
    org = await qualified_organization()
    now = datetime.now(timezone.utc)
    base = {"name": "居家清洁服务项目", "organization_id": org.id, "budget_fen": 1_000_000,
            "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat(),
            "services": ["CLEAN_HOME"], "station_ids": [station.id]}
    r = await client.post("/api/v1/admin/projects", json={**base, "services": ["CLEAN_HOM"]}, headers=admin.headers)
    assert assert_error(r, 400, "UNKNOWN_SERVICE")["details"] == [{"field": "services", "type": "unknown_service"}]
    r = await client.post("/api/v1/admin/projects", json={**base, "station_ids": [station.id, station.id + 1000]},
                          headers=admin.headers)
    assert assert_error(r, 400, "VALIDATION_ERROR")["details"] == [{"field": "station_ids", "type": "not_found"}]
    assert await Project.all().count() == 0
    assert (await client.post("/api/v1/admin/projects", json=base, headers=admin.headers)).status_code == 201
