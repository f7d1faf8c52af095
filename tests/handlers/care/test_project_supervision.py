"""Projects a bureau can sign, over HTTP: the KPIs count only the provider's own work (a volunteer
with no link to it who serves at the project's station earns it nothing; the person it assigned
through a referral does); an unqualified provider can be neither proposed nor accepted, and is
told what it lacks; targets set at 立项 decide 验收; payments stay within the budget and the
final one follows acceptance; the list filters; the 验收 ledger shows the evidence."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models import ProjectPayment
from server.workflow import referrals
from tests.builders import (
    grant, iso, login, make_admin, make_open_task, make_station, make_volunteer, record_after, soon,
)
from tests.handlers.care.test_projects import qualified_organization, serve
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


def project_body(org_id: int, station_id: int, **over) -> dict:
    now = datetime.now(timezone.utc)
    return {"name": "环翠区居家清洁服务项目", "organization_id": org_id, "budget_fen": 1_000_000,
            "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat(),
            "services": ["CLEAN_HOME"], "station_ids": [station_id], **over}


async def step(client, admin, project_id: int, to: str, **extra):
    return await client.post(f"/api/v1/admin/projects/{project_id}/steps", json={"to": to, "note": to, **extra},
                             headers=admin.headers)


async def test_kpis_count_the_providers_own_work_only(api, client):
    admin = await make_admin(client)
    station = await make_station()
    org = await qualified_organization(services=["CLEAN_HOME"], station_ids=[station.id])
    staff = await grant(await login(client), "org_staff", organization_id=org.id)
    r = await client.post("/api/v1/admin/projects", json=project_body(org.id, station.id), headers=admin.headers)
    assert r.status_code == 201, r.text
    project = r.json()

    # A volunteer with no link to the provider serves a task of the project's service at its station.
    task, need, worker, _ = await make_open_task(client, station)
    stranger, _ = await make_volunteer(client, station, approved_by=worker)
    await serve(client, worker, stranger, station, 40, 5)
    kpis = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()["kpis"]
    assert (kpis["tasks"], kpis["tasks_done"], kpis["verified_hours"], kpis["average_rating"]) == (0, 0, 0, None)

    # The station refers a task to the provider, which assigns its own person, who serves it.
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)
    r = await client.post(f"/api/v1/referrals/{r.json()['id']}/accept", json={"assignee_user_ids": [member.id]},
                          headers=staff.headers)
    assert r.status_code == 200, r.text
    assert (await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=member.headers)).status_code == 200
    assert (await record_after(client, task["id"], member, 45)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200, r.text

    body = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()
    k = body["kpis"]
    assert (k["tasks"], k["tasks_done"], k["verified_hours"], k["referrals_accepted"]) == (1, 1, 0.75, 1)

    # 立项 sets targets; 验收 compares them: one missed, so not accepted (only failed), and says which.
    assert_error(await step(client, admin, project["id"], "approved"), 400, "VALIDATION_ERROR")
    r = await step(client, admin, project["id"], "approved", targets={"tasks_done": 2, "verified_hours": 0.5})
    assert r.status_code == 200, r.text
    for to in ("in_progress", "acceptance_pending"):
        assert (await step(client, admin, project["id"], to)).status_code == 200
    error = assert_error(await step(client, admin, project["id"], "accepted"), 409, "TARGETS_NOT_MET")
    assert "完成任务(目标 2,实际 1)" in error["message"]
    assert [m["kpi"] for m in error["details"]["missed"]] == ["tasks_done"]

    # The 验收 ledger: KPIs against targets, and the task counted with who served it.
    r = await client.get(f"/api/v1/admin/projects/{project['id']}/acceptance", headers=admin.headers)
    assert r.status_code == 200, r.text
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["验收汇总", "计入任务", "项目节点", "拨付记录"]
    summary = list(book["验收汇总"].iter_rows(values_only=True))
    assert ("完成任务", "≥ 2", 1, "未达标") in summary and ("核定时长(小时)", "≥ 0.5", 0.75, "达标") in summary
    counted = list(book["计入任务"].iter_rows(values_only=True))[1:]
    assert [(row[0], row[7], row[9]) for row in counted] == [(task["id"], 45, "转介承接")]
    assert (await step(client, admin, project["id"], "failed")).status_code == 200


async def test_an_unqualified_provider_is_neither_proposed_nor_accepted(api, client):
    admin = await make_admin(client)
    station = await make_station()
    bare = await qualified_organization()
    await bare.__class__.filter(id=bare.id).update(qualifications=[
        {"kind": "legal_capacity", "document": "执照.pdf", "expires_at": "2030-01-01T00:00:00+08:00"}])
    error = assert_error(await client.post("/api/v1/admin/projects", json=project_body(bare.id, station.id),
                                           headers=admin.headers), 409, "PROVIDER_NOT_QUALIFIED")
    assert "专业人员、场地设施、财务制度" in error["message"]
    assert [m["kind"] for m in error["details"]["missing"]] == ["staff", "facilities", "finance"]

    # Qualified when proposed; a document lapses before acceptance: not accepted, told which.
    org = await qualified_organization()
    project = (await client.post("/api/v1/admin/projects", json=project_body(org.id, station.id),
                                 headers=admin.headers)).json()
    assert (await step(client, admin, project["id"], "approved", targets={"complaints": 0})).status_code == 200
    for to in ("in_progress", "acceptance_pending"):
        assert (await step(client, admin, project["id"], to)).status_code == 200
    lapsed = [{"kind": k, "document": f"{k}.pdf",
               "expires_at": iso(soon(-60)) if k == "finance" else "2030-01-01T00:00:00+08:00"}
              for k in referrals.QUALIFICATIONS]
    r = await client.patch(f"/api/v1/admin/organizations/{org.id}", json={"qualifications": lapsed}, headers=admin.headers)
    assert r.status_code == 200, r.text
    error = assert_error(await step(client, admin, project["id"], "accepted"), 409, "PROVIDER_NOT_QUALIFIED")
    assert error["details"]["missing"] == [{"kind": "finance", "label": "财务制度"}]
    got = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()
    assert got["status"] == "acceptance_pending" and got["status_label"] == "待验收"


async def test_payments_stay_within_the_budget_and_the_final_one_follows_acceptance(api, client):
    admin = await make_admin(client)
    station = await make_station()
    org = await qualified_organization()
    project = (await client.post("/api/v1/admin/projects", json=project_body(org.id, station.id, budget_fen=100_000),
                                 headers=admin.headers)).json()
    pid = project["id"]

    async def pay(kind: str, amount: int):
        return await client.post(f"/api/v1/admin/projects/{pid}/payments", json={"kind": kind, "amount_fen": amount,
                                                                                  "note": "拨付"}, headers=admin.headers)

    assert_error(await pay("advance", 30_000), 409, "PAYMENT_REFUSED")  # not approved yet
    assert (await step(client, admin, pid, "approved", targets={"complaints": 0})).status_code == 200
    assert (await pay("advance", 30_000)).status_code == 201
    assert_error(await pay("final", 70_000), 409, "PAYMENT_REFUSED")  # not accepted yet
    for to in ("in_progress", "acceptance_pending", "accepted"):
        assert (await step(client, admin, pid, to)).status_code == 200, to
    error = assert_error(await pay("final", 70_001), 409, "PAYMENT_REFUSED")  # past the budget
    assert "已拨付 300.00 元" in error["message"]
    r = await pay("final", 70_000)
    assert r.status_code == 201 and r.json()["kind_label"] == "尾款" and r.json()["step_id"] is not None
    assert_error(await pay("final", 1), 409, "PAYMENT_REFUSED")
    assert_error(await client.post(f"/api/v1/admin/projects/{pid}/payments", json={"kind": "advance", "amount_fen": 0},
                                   headers=admin.headers), 400, "VALIDATION_ERROR")
    body = (await client.get(f"/api/v1/admin/projects/{pid}", headers=admin.headers)).json()
    assert body["paid_fen"] == 100_000 and [p["kind"] for p in body["payments"]] == ["advance", "final"]
    assert await ProjectPayment.filter(project_id=pid).count() == 2

    # The list, by status and by station.
    other = await qualified_organization()
    await client.post("/api/v1/admin/projects", json=project_body(other.id, (await make_station()).id, name="别处项目"),
                      headers=admin.headers)
    listed = (await client.get("/api/v1/admin/projects", params={"status": "accepted"}, headers=admin.headers)).json()
    assert [p["id"] for p in listed["items"]] == [pid] and listed["items"][0]["status_label"] == "验收通过"
    here = (await client.get("/api/v1/admin/projects", params={"station_id": station.id}, headers=admin.headers)).json()
    assert [p["id"] for p in here["items"]] == [pid]
    assert len((await client.get("/api/v1/admin/projects", headers=admin.headers)).json()["items"]) == 2
