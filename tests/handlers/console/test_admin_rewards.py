"""The console's pages for rewards, provider organisations and purchased-service projects: an
administrator sees each list in words (labels and names, never codes; Weihai's dates), registers a
reward, restocks and retires it, adds an organisation and sets its services, stations and
qualifications, proposes a project and moves it through its steps; a form that fails comes back
with what was typed and a Chinese message at each field, having changed nothing; a worker is
refused everywhere."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from models import Organization, Project, ProjectStep, Reward
from server.clock import CHINA_TZ
from server.workflow import referrals
from tests.builders import (
    make_admin, make_district, make_organization, make_reward, make_station, make_worker,
)
from tests.handlers.console.support import console_browser, text_of


def field(page: str, form_id: str, name: str) -> str:
    """The markup of one field of a form, from its wrapper to the end of its message."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="{form_id}-{name}">.*?</div>', page, re.S)
    assert match, f"no field {form_id}-{name} in the page"
    return match.group(0)


def boxes(page: str, form_id: str, name: str) -> str:
    """The markup of a group of ticked boxes, with its message."""
    match = re.search(rf'<div class="field[^"]*">\s*<fieldset class="dimension" id="{form_id}-{name}".*?</div>',
                      page, re.S)
    assert match, f"no boxes {form_id}-{name} in the page"
    return match.group(0)


def rows(page: str) -> list[str]:
    """The rows of the page's lists, each as its visible text."""
    return [text_of(r) for r in re.findall(r"<tr>\s*<td>.*?</tr>", page, re.S)]


def local(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)


# --- rewards ----------------------------------------------------------------------------------


async def test_an_admin_sees_rewards_in_words_registers_one_restocks_and_retires_it(api, client):
    admin = await make_admin(client)
    district = await make_district(name="环翠区")
    whale = await make_station(district, name="鲸园驿站")
    hill = await make_station(district, name="竹岛驿站")
    donated = await make_reward(name="爱心米面油礼包", donor="威海某粮油公司", donor_kind="unit", price=30, stock=5,
                                per_person_limit=2, pickup_station_ids=[hill.id],
                                valid_from=local(2026, 12, 1, 0, 30), valid_until=local(2027, 1, 31, 23, 0))
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/rewards")
        assert r.status_code == 200, r.text
        (row,) = rows(r.text)
        assert "爱心米面油礼包" in row and "威海某粮油公司(爱心单位)" in row and "竹岛驿站" in row
        assert "2026-12-01 至 2027-01-31" in row and "5/5" in row and "兑换中" in row
        assert "unit" not in row and "active" not in row

        r = await b.post("/console/admin/rewards", [
            ("name", "保温杯"), ("donor", "张先生"), ("donor_kind", "individual"), ("price", "50"), ("stock", "10"),
            ("per_person_limit", "1"), ("valid_from", "2026-12-01T09:00"), ("valid_until", "2027-03-01T18:00"),
            ("pickup_station_ids", str(whale.id)), ("pickup_station_ids", str(hill.id))])
        assert r.status_code == 200, r.text
        assert "已登记奖品「保温杯」(捐赠方:张先生),库存 10 件" in r.text and 'class="flash ok"' in r.text
        assert "<html" not in r.text  # htmx gets the page's working part
        cup = await Reward.get(name="保温杯")
        assert (cup.donor_kind, cup.price, cup.stock, cup.total_stock) == ("individual", 50, 10, 10)
        assert cup.valid_from == local(2026, 12, 1, 9) and cup.valid_until == local(2027, 3, 1, 18)
        assert sorted(cup.pickup_station_ids) == sorted([whale.id, hill.id])
        first = rows(r.text)[0]  # newest first
        assert "保温杯" in first and "张先生(爱心人士)" in first and "鲸园驿站、竹岛驿站" in first

        r = await b.post(f"/console/admin/rewards/{donated.id}", {"add_stock": "3"})
        assert r.status_code == 200, r.text
        assert "已补充库存 3 件「爱心米面油礼包」,现有库存 8/8 件" in r.text
        again = await Reward.get(id=donated.id)
        assert (again.stock, again.total_stock) == (8, 8)

        # A withdrawal below what is held is refused at the row's field, and nothing moves.
        r = await b.post(f"/console/admin/rewards/{donated.id}", {"add_stock": "-9"})
        assert r.status_code == 400, r.text
        assert re.search(rf'id="reward-{donated.id}-add_stock"[^>]*value="-9"', r.text)
        assert f'id="reward-{donated.id}-add_stock-error">库存不能为负<' in r.text
        assert (await Reward.get(id=donated.id)).stock == 8

        assert 'hx-confirm="确定要下架「爱心米面油礼包」吗?' in r.text
        r = await b.post(f"/console/admin/rewards/{donated.id}", {"status": "retired"})
        assert r.status_code == 200, r.text
        assert "已下架「爱心米面油礼包」" in r.text
        assert (await Reward.get(id=donated.id)).status == "retired"
        row = next(row for row in rows(r.text) if "爱心米面油礼包" in row)
        assert "已下架" in row and "重新上架" in row


async def test_a_reward_form_that_fails_keeps_what_was_typed_and_creates_nothing(api, client):
    admin = await make_admin(client)
    station = await make_station(name="鲸园驿站")
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/rewards")
        assert "还没有登记奖品" in r.text
        r = await b.post("/console/admin/rewards", [
            ("name", ""), ("donor", "威海某超市"), ("donor_kind", "enterprise"), ("price", "十"), ("stock", "5"),
            ("valid_from", "2026-12-01T09:00"), ("valid_until", "2026-12-31T18:00"),
            ("pickup_station_ids", str(station.id))])
        assert r.status_code == 422, r.text
        assert "请填写此项" in field(r.text, "reward", "name")
        price = field(r.text, "reward", "price")
        assert "请填写整数" in price and 'value="十"' in price and 'aria-invalid="true"' in price
        assert 'value="威海某超市"' in field(r.text, "reward", "donor")
        assert 'value="2026-12-01T09:00"' in field(r.text, "reward", "valid_from")
        assert f'value="{station.id}" checked' in boxes(r.text, "reward", "pickup_station_ids")

        # The service's own rule: an end before the start, said at the end.
        r = await b.post("/console/admin/rewards", {
            "name": "保温杯", "donor": "威海某超市", "price": "20", "stock": "5",
            "valid_from": "2026-12-31T09:00", "valid_until": "2026-12-01T09:00"})
        assert r.status_code == 400, r.text
        assert "截止时间须晚于开始时间" in field(r.text, "reward", "valid_until")
        assert 'value="保温杯"' in field(r.text, "reward", "name")
    assert not await Reward.exists()


async def test_rewards_come_twenty_a_page(api, client):
    admin = await make_admin(client)
    for n in range(21):
        await make_reward(name=f"奖品{n:02d}")
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/rewards")
        assert "共 21 条,第 1/2 页" in r.text and "奖品20" in r.text and "奖品00" not in r.text
        r = await b.get("/console/admin/rewards?page=2")
        assert "第 2/2 页" in r.text and "奖品00" in r.text
        assert 'hx-post="/console/admin/rewards/' in r.text and '?page=2"' in r.text


# --- organisations ----------------------------------------------------------------------------


async def test_an_admin_sees_organisations_in_words_adds_one_and_sets_what_it_offers(api, client):
    admin = await make_admin(client)
    district = await make_district(name="文登区")
    station = await make_station(district, name="龙山驿站")
    other = await make_station(district, name="天福驿站")
    await make_organization(name="文登区阳光社工服务中心", kind="social_work_agency", district_id=district.id,
                            services=["CLEAN_HOME"], station_ids=[station.id],
                            qualifications=[{"kind": "staff", "document": "社工证书.pdf",
                                             "expires_at": "2020-01-01T00:00:00+00:00"}])
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/organizations")
        assert r.status_code == 200, r.text
        (row,) = rows(r.text)
        assert "文登区阳光社工服务中心" in row and "社会工作服务机构" in row and "文登区" in row
        assert "居室保洁" in row and "龙山驿站" in row
        assert "专业人员:社工证书.pdf(有效期至 2020-01-01)" in row and "已过期" in row
        assert "CLEAN_HOME" not in row and "social_work_agency" not in row and "staff" not in row

        r = await b.post("/console/admin/organizations", {"name": "威海慈善助老协会", "kind": "charity",
                                                          "district_id": str(district.id)})
        assert r.status_code == 200, r.text
        assert "已添加机构「威海慈善助老协会」(慈善组织)" in r.text
        org = await Organization.get(name="威海慈善助老协会")
        assert (org.kind, org.district_id) == ("charity", district.id)

        r = await b.get(f"/console/admin/organizations/{org.id}")
        assert r.status_code == 200 and "未登记资质" in r.text, r.text
        r = await b.post(f"/console/admin/organizations/{org.id}", [
            ("services", "CLEAN_HOME"), ("services", "LIVING_MEAL"), ("station_ids", str(station.id)),
            ("station_ids", str(other.id)),
            *[(f"document_{k}", f"{k}证明.pdf") for k in referrals.QUALIFICATIONS],
            *[(f"expires_at_{k}", "2030-06-30T18:00") for k in referrals.QUALIFICATIONS]])
        assert r.status_code == 200, r.text
        assert "已保存「威海慈善助老协会」:服务 2 项,覆盖驿站 2 个,资质材料 4 份" in r.text
        await org.refresh_from_db()
        assert org.services == ["CLEAN_HOME", "LIVING_MEAL"] and org.station_ids == [station.id, other.id]
        assert [q["kind"] for q in org.qualifications] == list(referrals.QUALIFICATIONS)
        assert {datetime.fromisoformat(q["expires_at"]) for q in org.qualifications} == {local(2030, 6, 30, 18)}
        # Stored as the API stores it: the referral check reads it and finds the organisation qualified.
        referrals.check_qualified(org=org, service_id="CLEAN_HOME", station_id=station.id,
                                  now=datetime.now(timezone.utc))
        assert 'value="2030-06-30T18:00"' in field(r.text, "settings", "expires_at_finance")
        assert 'value="CLEAN_HOME" checked' in boxes(r.text, "settings", "services")

        # Unticking a station removes it; a document without its expiry is refused at the expiry.
        r = await b.post(f"/console/admin/organizations/{org.id}", [
            ("services", "CLEAN_HOME"), ("station_ids", str(station.id)), ("document_staff", "新证书.pdf")])
        assert r.status_code == 422, r.text
        assert "请填写此项" in field(r.text, "settings", "expires_at_staff")
        assert 'value="新证书.pdf"' in field(r.text, "settings", "document_staff")
        assert f'value="{other.id}" checked' not in boxes(r.text, "settings", "station_ids")
        await org.refresh_from_db()
        assert org.station_ids == [station.id, other.id] and len(org.qualifications) == 4
        r = await b.post(f"/console/admin/organizations/{org.id}", [("services", "CLEAN_HOME"),
                                                                   ("station_ids", str(station.id))])
        assert r.status_code == 200, r.text
        await org.refresh_from_db()
        assert (org.services, org.station_ids, org.qualifications) == (["CLEAN_HOME"], [station.id], [])


async def test_an_organisation_form_that_fails_says_why_and_creates_nothing(api, client):
    admin = await make_admin(client)
    await make_organization(name="威海慈善助老协会")
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/organizations")
        r = await b.post("/console/admin/organizations", {"name": "海边志愿队", "kind": "club"})
        assert r.status_code == 422, r.text
        assert "请从选项中选择" in field(r.text, "org", "kind") and 'value="海边志愿队"' in field(r.text, "org", "name")
        r = await b.post("/console/admin/organizations", {"name": "威海慈善助老协会", "kind": "charity"})
        assert r.status_code == 409, r.text
        assert "机构名称已存在" in field(r.text, "org", "name")
        assert re.search(r'<option value="charity" selected>慈善组织</option>', r.text)
    assert await Organization.all().count() == 1


# --- projects ---------------------------------------------------------------------------------


async def test_an_admin_proposes_a_project_and_moves_it_through_its_steps(api, client):
    from tests.handlers.care.test_projects import qualified_organization

    admin = await make_admin(client)
    station = await make_station(name="鲸园驿站")
    unfit = await make_organization(name="无资质机构")
    org = await qualified_organization(name="鲸园社工服务中心")
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/projects")
        assert r.status_code == 200 and "还没有购买服务项目" in r.text, r.text
        # A provider without its qualifications is not proposed: the form says what it lacks.
        r = await b.post("/console/admin/projects", [
            ("name", "无资质项目"), ("organization_id", str(unfit.id)), ("budget_fen", "100"),
            ("starts_at", "2026-12-01T08:00"), ("ends_at", "2027-11-30T18:00"), ("services", "CLEAN_HOME"),
            ("station_ids", str(station.id))])
        assert r.status_code == 409 and "缺少或已过期的资质:独立法人资格、专业人员、场地设施、财务制度" in r.text, r.text
        assert not await Project.exists(name="无资质项目")
        r = await b.post("/console/admin/projects", [
            ("name", "鲸园街道居家清洁服务项目"), ("organization_id", str(org.id)), ("budget_fen", "50000.50"),
            ("starts_at", "2026-12-01T08:00"), ("ends_at", "2027-11-30T18:00"), ("services", "CLEAN_HOME"),
            ("station_ids", str(station.id))])
        assert r.status_code == 200, r.text
        assert "已申报项目「鲸园街道居家清洁服务项目」" in r.text
        project = await Project.get(name="鲸园街道居家清洁服务项目")
        assert (project.organization_id, project.budget_fen, project.services, project.station_ids) == (
            org.id, 5000050, ["CLEAN_HOME"], [station.id])
        assert project.starts_at == local(2026, 12, 1, 8) and project.ends_at == local(2027, 11, 30, 18)
        (row,) = rows(r.text)
        assert "鲸园社工服务中心" in row and "50000.50" in row and "2026-12-01 至 2027-11-30" in row
        assert "居室保洁" in row and "鲸园驿站" in row and "已申报" in row and "proposed" not in row

        r = await b.get(f"/console/admin/projects/{project.id}")
        assert r.status_code == 200, r.text
        page = text_of(r.text)
        assert "任务数" in page and "准时率" in page and "暂无" in page and "已申报" in page
        assert 'id="step-approved"' in r.text and 'id="step-in_progress"' not in r.text

        # 立项 asks for at least one target, and a target must be a number.
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "approved", "note": "审批"})
        assert r.status_code == 400 and "立项时须设定至少一项绩效目标" in r.text, r.text
        r = await b.post(f"/console/admin/projects/{project.id}/steps",
                         {"to": "approved", "note": "审批", "target_tasks_done": "十"})
        assert r.status_code == 422 and "请填写数字" in field(r.text, "step-approved", "target_tasks_done")
        # Out of the API's bounds: its own message, at the field.
        r = await b.post(f"/console/admin/projects/{project.id}/steps",
                         {"to": "approved", "note": "审批", "target_on_time_rate": "-0.5"})
        assert r.status_code == 422 and "不能小于 0" in field(r.text, "step-approved", "target_on_time_rate")
        assert (await Project.get(id=project.id)).status == "proposed"
        r = await b.post(f"/console/admin/projects/{project.id}/steps",
                         {"to": "approved", "note": "区民政局审批通过", "documents": "立项批复.pdf\n项目合同.pdf",
                          "target_tasks_done": "1", "target_complaints": "0"})
        assert r.status_code == 200, r.text
        assert (await Project.get(id=project.id)).targets == {"tasks_done": 1.0, "complaints": 0.0}
        assert "绩效目标(立项时设定)" in r.text and "未达标" in text_of(r.text)
        assert "已办理「立项」,项目状态:已立项" in r.text
        assert (await Project.get(id=project.id)).status == "approved"
        step = await ProjectStep.get(project_id=project.id, to_status="approved")
        assert (step.note, step.documents, step.actor_id) == ("区民政局审批通过", ["立项批复.pdf", "项目合同.pdf"], admin.id)
        assert "立项批复.pdf、项目合同.pdf" in r.text and "开始实施" in r.text

        # A note is required: said at the step's own field, and the project stays where it was.
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "in_progress", "documents": "x.pdf"})
        assert r.status_code == 422, r.text
        assert "请填写此项" in field(r.text, "step-in_progress", "note")
        assert "x.pdf" in field(r.text, "step-in_progress", "documents")
        # A step the project cannot take now: refused in words.
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "accepted", "note": "验收"})
        assert r.status_code == 409, r.text
        assert "项目当前为「已立项」,不能验收通过" in r.text
        assert (await Project.get(id=project.id)).status == "approved"

        await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "in_progress", "note": "开始服务"})
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "acceptance_pending", "note": "服务期满"})
        assert r.status_code == 200 and "项目状态:待验收" in r.text, r.text
        assert 'hx-confirm="确定要将项目「鲸园街道居家清洁服务项目」办理为「验收通过」吗?' in r.text
        assert 'hx-confirm="确定要将项目「鲸园街道居家清洁服务项目」办理为「验收不通过」吗?' in r.text
        # No task was done by the provider: the target is missed and the project is not accepted.
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "accepted", "note": "验收合格"})
        assert r.status_code == 409 and "未达到的绩效目标:完成任务(目标 1,实际 0)" in r.text, r.text
        assert (await Project.get(id=project.id)).status == "acceptance_pending"
        # An advance is paid before 验收; an amount that is not money is refused at its field.
        r = await b.post(f"/console/admin/projects/{project.id}/payments", {"kind": "advance", "amount": "二十"})
        assert r.status_code == 422 and "请填写金额" in field(r.text, "pay", "amount")
        r = await b.post(f"/console/admin/projects/{project.id}/payments", {"kind": "final", "amount": "100"})
        assert r.status_code == 409 and "尾款须在验收通过后拨付" in r.text
        r = await b.post(f"/console/admin/projects/{project.id}/payments",
                         {"kind": "advance", "amount": "20000.5", "note": "首期预拨"})
        assert r.status_code == 200 and "已登记预拨 20000.50 元" in r.text and "已拨付 20000.50 元" in r.text, r.text
        r = await b.post(f"/console/admin/projects/{project.id}/steps", {"to": "failed", "note": "未完成任务"})
        assert r.status_code == 200 and "项目已验收不通过,办理已结束" in r.text, r.text
        r = await b.get(f"/console/admin/projects/{project.id}/acceptance.xlsx")
        assert r.status_code == 200 and r.content.startswith(b"PK")
    assert (await Project.get(id=project.id)).status == "failed"
    assert await ProjectStep.filter(project_id=project.id).count() == 5


async def test_a_project_form_that_fails_keeps_what_was_typed_and_creates_nothing(api, client):
    from tests.handlers.care.test_projects import qualified_organization

    admin = await make_admin(client)
    station = await make_station(name="鲸园驿站")
    org = await qualified_organization(name="鲸园社工服务中心")
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/projects")
        r = await b.post("/console/admin/projects", [
            ("name", "助餐项目"), ("organization_id", str(org.id)), ("budget_fen", "12.345"),
            ("starts_at", "2026-12-01T08:00"), ("ends_at", "2027-11-30T18:00"), ("station_ids", str(station.id))])
        assert r.status_code == 422, r.text
        budget = field(r.text, "project", "budget_fen")
        assert "最多两位小数" in budget and 'value="12.345"' in budget
        assert "至少 1 项" in boxes(r.text, "project", "services")
        assert f'value="{station.id}" checked' in boxes(r.text, "project", "station_ids")
        assert re.search(rf'<option value="{org.id}" selected>鲸园社工服务中心</option>', r.text)

        r = await b.post("/console/admin/projects", [
            ("name", "助餐项目"), ("organization_id", str(org.id)), ("budget_fen", "1000"),
            ("starts_at", "2027-12-01T08:00"), ("ends_at", "2027-11-30T18:00"), ("services", "LIVING_MEAL"),
            ("station_ids", str(station.id))])
        assert r.status_code == 400, r.text
        assert "结束时间须晚于开始时间" in field(r.text, "project", "ends_at")
        assert 'value="LIVING_MEAL" checked' in boxes(r.text, "project", "services")
    assert not await Project.exists()


# --- who may --------------------------------------------------------------------------------


async def test_a_worker_is_refused_every_page_and_form_and_nothing_changes(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    reward = await make_reward()
    org = await make_organization()
    project = await Project.create(name="项目", organization_id=org.id, budget_fen=100, created_by=1,
                                   starts_at=datetime.now(timezone.utc),
                                   ends_at=datetime.now(timezone.utc) + timedelta(days=30),
                                   services=["CLEAN_HOME"], station_ids=[station.id])
    pages = ["/console/admin/rewards", "/console/admin/organizations", f"/console/admin/organizations/{org.id}",
             "/console/admin/projects", f"/console/admin/projects/{project.id}"]
    posts = {
        "/console/admin/rewards": {"name": "奖品", "donor": "某企业", "price": "1", "stock": "1",
                                   "valid_from": "2026-12-01T09:00", "valid_until": "2027-12-01T09:00"},
        f"/console/admin/rewards/{reward.id}": {"status": "retired"},
        "/console/admin/organizations": {"name": "某机构", "kind": "charity"},
        f"/console/admin/organizations/{org.id}": {"services": "LIVING_MEAL"},
        "/console/admin/projects": {"name": "项目二"},
        f"/console/admin/projects/{project.id}/steps": {"to": "approved", "note": "立项"},
    }
    async with console_browser(api, worker.openid) as b:
        for path in pages:
            r = await b.get(path)
            assert r.status_code == 403 and "仅供管理员" in r.text, (path, r.status_code)
        for path, data in posts.items():
            r = await b.post(path, data)
            assert r.status_code == 403, (path, r.status_code)
    assert await Reward.all().count() == 1 and (await Reward.get(id=reward.id)).status == "active"
    assert await Organization.all().count() == 1 and (await Organization.get(id=org.id)).services == []
    assert (await Project.get(id=project.id)).status == "proposed" and not await ProjectStep.exists()


async def test_hostile_forms_get_a_page_never_a_500_under_an_administrators_session(api, client):
    from tests.handlers.console.test_console_access import HOSTILE_FORMS

    admin = await make_admin(client)
    station = await make_station()
    reward = await make_reward()
    org = await make_organization()
    project = await Project.create(name="项目", organization_id=org.id, budget_fen=100, created_by=admin.id,
                                   starts_at=datetime.now(timezone.utc),
                                   ends_at=datetime.now(timezone.utc) + timedelta(days=30),
                                   services=["CLEAN_HOME"], station_ids=[station.id])
    extra = [b"budget_fen=1e999999999&services=CLEAN_HOME", b"add_stock=99999999999999999999",
             b"expires_at_staff=9999-12-31T23:59&document_staff=x", b"to=accepted&note=%00"]
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/rewards")
        for path in ("/console/admin/rewards", f"/console/admin/rewards/{reward.id}", "/console/admin/organizations",
                     f"/console/admin/organizations/{org.id}", "/console/admin/projects",
                     f"/console/admin/projects/{project.id}/steps"):
            for body in [*HOSTILE_FORMS, *extra]:
                r = await b.client.post(path, content=body, headers={
                    "X-CSRF-Token": b.csrf, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"})
                assert r.status_code < 500, (path, body[:40], r.status_code, r.text[:300])
    assert (await Reward.get(id=reward.id)).stock == reward.stock
    assert (await Project.get(id=project.id)).status == "proposed"
