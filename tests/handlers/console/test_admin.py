"""The console's administration pages: an administrator sets up a district, a station and its worker
through the forms, and that worker's desk opens on the station; a form that fails comes back with
what was typed and a message at each field, having created nothing; the pages are an
administrator's only, and nothing changes without the page's CSRF token; a dead letter is sent
again with its button; a service's standards are changed in place."""

import re

import httpx
import pytest

from handlers.console.common import local
from models import District, OutboxMessage, Service, Station, User, UserRole
from server.notifications import notify
from tests.builders import (
    login, make_admin, make_district, make_need, make_resident, make_station, make_worker, new_openid,
)
from tests.handlers.console.test_console import console_client, desk_counts
from tests.handlers.console.browsing import SHOTS, browser  # noqa: F401 (a fixture)

PAGES = ("/console/admin/stations", "/console/admin/staff", "/console/admin/dead-letters",
         "/console/admin/services")
POSTS = {
    "/console/admin/districts": {"name": "环翠区", "code": "371002"},
    "/console/admin/stations": {"name": "鲸园驿站", "town": "鲸园街道", "address": "新威路1号"},
    "/console/admin/staff": {"role": "worker"},
    "/console/admin/staff/remove": {"role": "worker"},
    "/console/admin/dead-letters/retry": {},
    "/console/admin/services/CLEAN_HOME": {"points_per_hour": "99"},
}


async def csrf(c: httpx.AsyncClient, path: str = "/console/admin/stations") -> dict[str, str]:
    """What htmx sends with a form from the page at ``path``: its CSRF token, and that it is htmx."""
    r = await c.get(path)
    assert r.status_code == 200, r.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', r.text).group(1)
    return {"X-CSRF-Token": token, "HX-Request": "true"}


def field(page: str, form_id: str, name: str) -> str:
    """The markup of one field of a form, from its wrapper to the next one."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="{form_id}-{name}">.*?</div>', page, re.S)
    assert match, f"no field {form_id}-{name} in the page"
    return match.group(0)


async def test_an_admin_sets_up_a_station_and_its_worker_whose_desk_then_opens_on_it(api, client):
    admin = await make_admin(client)
    someone = await login(client, new_openid("future-worker"))  # has logged in to the mini-program once
    async with console_client(api, admin.openid) as c:
        r = await c.get("/console/admin/stations")
        assert r.status_code == 200 and "还没有区市" in r.text, r.text
        headers = await csrf(c)

        r = await c.post("/console/admin/districts", data={"name": "环翠区", "code": "371002"}, headers=headers)
        assert r.status_code == 200, r.text
        assert "已添加区市「环翠区」" in r.text and 'class="flash ok"' in r.text
        district = await District.get(code="371002")
        assert "<html" not in r.text  # htmx gets the page's working part, not a whole page

        r = await c.post("/console/admin/stations", headers=headers, data={
            "district_id": str(district.id), "name": "鲸园驿站", "town": "鲸园街道", "address": "新威路1号",
            "lat": "37.51", "lng": "122.12"})
        assert r.status_code == 200, r.text
        assert "已添加驿站「鲸园驿站」(环翠区)" in r.text
        station = await Station.get(district_id=district.id, name="鲸园驿站")
        assert (station.town, station.address, station.lat, station.lng) == ("鲸园街道", "新威路1号", 37.51, 122.12)
        assert re.search(r"<td>鲸园驿站</td><td>环翠区</td>", r.text), r.text

        r = await c.get("/console/admin/staff")
        assert "还没有任命工作人员" in r.text
        r = await c.post("/console/admin/staff", headers=headers,
                         data={"user_id": str(someone.id), "role": "worker", "station_id": str(station.id)})
        assert r.status_code == 200, r.text
        assert f"已任命用户 {someone.id} 为驿站工作人员(鲸园驿站)" in r.text
        assert f"用户 {someone.id}" in r.text and "<td>驿站工作人员</td>" in r.text and "<td>鲸园驿站</td>" in r.text
        assert f'hx-confirm="确定要撤销用户 {someone.id} 的驿站工作人员角色吗?' in r.text
        assert await UserRole.exists(user_id=someone.id, role="worker", station_id=station.id, granted_by=admin.id)

        r = await c.get("/console/admin/stations")
        assert re.search(rf'href="/console/admin/staff\?station_id={station.id}">1</a>', r.text), r.text

    # The station's work reaches the new worker's desk, and no other station's does.
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)
    other = await make_station()
    await make_need(client, (await make_resident(client, other))[0])
    async with console_client(api, someone.openid) as c:
        r = await c.get("/console/")
        assert r.status_code == 200, r.text
        assert desk_counts(r.text)["needs_to_accept"] == 1


async def test_a_removed_worker_loses_the_desk(api, client):
    admin = await make_admin(client)
    station = await make_station(name="威海卫驿站")
    worker = await make_worker(client, station)
    async with console_client(api, admin.openid) as c:
        headers = await csrf(c, "/console/admin/staff")
        r = await c.post(f"/console/admin/staff/remove?station_id={station.id}", headers=headers,
                         data={"user_id": str(worker.id), "role": "worker"})
        assert r.status_code == 200, r.text
        assert f"已撤销用户 {worker.id} 的驿站工作人员角色" in r.text and "该驿站还没有工作人员" in r.text
        # Removing it again: it is not there, said in the page's notice area.
        r = await c.post("/console/admin/staff/remove", headers=headers,
                         data={"user_id": str(worker.id), "role": "worker"})
        assert r.status_code == 404 and "该用户没有此角色" in r.text and r.headers["hx-retarget"] == "#flash"
    assert not await UserRole.exists(user_id=worker.id, role="worker")
    async with console_client(api, worker.openid) as c:
        assert (await c.get("/console/")).status_code == 403


async def test_a_form_that_fails_comes_back_with_what_was_typed_and_why_and_creates_nothing(api, client):
    admin = await make_admin(client)
    district = await make_district(name="文登区", code="371003")
    async with console_client(api, admin.openid) as c:
        headers = await csrf(c)

        r = await c.post("/console/admin/districts", data={"name": "", "code": "环翠 区"}, headers=headers)
        assert r.status_code == 422, r.text
        code = field(r.text, "district", "code")
        assert 'value="环翠 区"' in code and "格式不正确" in code and 'aria-invalid="true"' in code
        assert "请填写此项" in field(r.text, "district", "name")
        assert await District.all().count() == 1
        # Without htmx (its header absent), the same answer as a whole page.
        r = await c.post("/console/admin/districts", data={"name": "", "code": "环翠 区"},
                         headers={"X-CSRF-Token": headers["X-CSRF-Token"]})
        assert r.status_code == 422 and "<html" in r.text and "格式不正确" in field(r.text, "district", "code")

        r = await c.post("/console/admin/stations", headers=headers, data={
            "district_id": str(district.id), "name": "", "town": "龙山街道", "address": "文山路2号", "lat": "北纬37"})
        assert r.status_code == 422, r.text
        lat = field(r.text, "station", "lat")
        assert 'value="北纬37"' in lat and "请填写数字" in lat
        assert "请填写此项" in field(r.text, "station", "name")
        assert 'value="龙山街道"' in field(r.text, "station", "town")
        assert re.search(rf'<option value="{district.id}" selected>文登区</option>', r.text)
        assert not await Station.exists(district_id=district.id)

        # Refused by the domain rather than the schema: the same code again, said at the code.
        r = await c.post("/console/admin/districts", data={"name": "文登", "code": "371003"}, headers=headers)
        assert r.status_code == 409, r.text
        assert "区市编码已存在" in field(r.text, "district", "code") and 'value="文登"' in r.text
        assert await District.all().count() == 1

        station = await make_station(district)
        someone = await login(client)
        r = await c.post("/console/admin/staff", headers=headers, data={"user_id": "十二", "role": "worker"})
        assert r.status_code == 422 and "请填写整数" in field(r.text, "appoint", "user_id"), r.text
        r = await c.post("/console/admin/staff", headers=headers, data={"user_id": str(someone.id), "role": "worker"})
        assert r.status_code == 422 and "须选择一个驿站" in field(r.text, "appoint", "station_id"), r.text
        assert f'value="{someone.id}"' in field(r.text, "appoint", "user_id")
        r = await c.post("/console/admin/staff", headers=headers,
                         data={"user_id": "999999", "role": "worker", "station_id": str(station.id)})
        assert r.status_code == 404 and "用户不存在" in r.text and 'value="999999"' in r.text, r.text
        assert not await UserRole.exists(role="worker")


async def test_every_admin_page_refuses_a_worker(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    someone = await login(client)
    async with console_client(api, worker.openid) as c:
        for path in PAGES:
            r = await c.get(path)
            assert r.status_code == 403 and "仅供管理员" in r.text, (path, r.text)
        headers = await csrf(c, "/console/")  # a valid token of the worker's own session
        for path, data in POSTS.items():
            data = {**data, "user_id": str(someone.id), "station_id": str(station.id), "id": "1"}
            r = await c.post(path, data=data, headers=headers)
            assert r.status_code == 403, (path, r.text)
    assert await District.all().count() == 1 and await Station.all().count() == 1
    assert not await UserRole.exists(user_id=someone.id, role__in=("worker", "org_staff"))
    assert await UserRole.exists(user_id=worker.id, role="worker")
    assert (await Service.get(code="CLEAN_HOME")).points_per_hour != 99


@pytest.mark.parametrize("token", [None, "forged"])
async def test_nothing_changes_without_the_pages_csrf_token(api, client, token):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    async with console_client(api, admin.openid) as c:
        headers = {"HX-Request": "true"} | ({"X-CSRF-Token": token} if token else {})
        posts = {**POSTS, "/console/admin/stations": {**POSTS["/console/admin/stations"], "district_id": str(
            station.district_id)}}
        for path, data in posts.items():
            r = await c.post(path, data={**data, "user_id": str(worker.id), "station_id": str(station.id)},
                             headers=headers)
            assert r.status_code == 403 and "请求已失效" in r.text, (path, r.text)
    assert await District.all().count() == 1 and await Station.all().count() == 1
    assert await UserRole.exists(user_id=worker.id, role="worker")
    assert (await Service.get(code="CLEAN_HOME")).points_per_hour != 99


async def test_a_dead_letter_is_listed_in_words_and_sent_again(api, client):
    admin = await make_admin(client)
    now = api.app.ctx.clock()
    volunteer = await User.create(openid=new_openid("dead"), phone_masked="138****5678")
    template = notify.TEMPLATES["record_rejected"]["template_id"]
    await notify.grant(user_id=volunteer.id, accepted=[template], rejected=[])
    ctx = {"task_id": 7, "title": "打扫卫生", "volunteer_name": "张三", "reason": "照片不清楚", "at": now}
    await notify.notify(user_id=volunteer.id, event="record_rejected", ctx=ctx, now=now)
    (row,) = await OutboxMessage.filter(user_id=volunteer.id)
    await OutboxMessage.filter(id=row.id).update(status="dead", attempts=1,
                                                 last_error="47003 argument invalid! data.name2.value invalid")
    async with console_client(api, admin.openid) as c:
        r = await c.get("/console/admin/dead-letters")
        assert r.status_code == 200, r.text
        (listed,) = re.findall(r"<tr>\s*<td>.*?</tr>", r.text, re.S)
        assert "服务记录被退回" in listed and "138****5678" in listed and "消息内容不符合微信的格式要求" in listed
        assert f"<td>{local(row.created_at)}</td>" in listed and "hx-confirm" in listed  # Asia/Shanghai
        headers = await csrf(c, "/console/admin/dead-letters")
        r = await c.post("/console/admin/dead-letters/retry", data={"id": str(row.id)}, headers=headers)
        assert r.status_code == 200, r.text
        assert "已重新排入发送队列" in r.text and "没有发送失败的消息" in r.text
        again = await OutboxMessage.get(id=row.id)
        assert (again.status, again.attempts) == ("pending", 0)
        # Sent again by someone else meanwhile: nothing is queued twice, and the page says so.
        r = await c.post("/console/admin/dead-letters/retry", data={"id": str(row.id)}, headers=headers)
        assert r.status_code == 200 and "已不在待补发列表中" in r.text, r.text


async def test_long_lists_come_in_pages_of_twenty(api, client):
    admin = await make_admin(client)
    district = await make_district(name="荣成市")
    for n in range(21):
        await make_station(district, name=f"驿站{n:02d}")
    async with console_client(api, admin.openid) as c:
        r = await c.get("/console/admin/stations")
        assert "共 21 条,第 1/2 页" in r.text and "驿站19" in r.text and "驿站20" not in r.text
        assert 'href="/console/admin/stations?page=2"' in r.text
        r = await c.get("/console/admin/stations?page=2")
        assert "第 2/2 页" in r.text and "驿站20" in r.text and "驿站19" not in r.text
        r = await c.get("/console/admin/stations?page=9")  # past the end: the last page
        assert "第 2/2 页" in r.text


async def test_an_admin_changes_a_services_standards_and_a_wrong_one_is_said_at_its_field(api, client):
    admin = await make_admin(client)
    before = await Service.get(code="CLEAN_HOME")
    async with console_client(api, admin.openid) as c:
        r = await c.get("/console/admin/services")
        assert r.status_code == 200 and f"<td>{before.name}" in r.text, r.text
        headers = await csrf(c, "/console/admin/services")
        r = await c.post("/console/admin/services/CLEAN_HOME", headers=headers,
                         data={"default_minutes": "90", "min_minutes": "20", "points_per_hour": "12"})
        assert r.status_code == 200, r.text
        assert f"已保存「{before.name}」:默认 90 分钟,最低 20 分钟,每小时 12 积分" in r.text
        r = await c.post("/console/admin/services/CLEAN_HOME", headers=headers,
                         data={"default_minutes": "九十", "min_minutes": "20", "points_per_hour": "12"})
        assert r.status_code == 422 and 'value="九十"' in r.text and "请填写整数" in r.text, r.text
        # The domain's rule, not the schema's: a minimum above the default duration.
        r = await c.post("/console/admin/services/CLEAN_HOME", headers=headers,
                         data={"default_minutes": "30", "min_minutes": "45", "points_per_hour": "12"})
        assert r.status_code == 400, r.text
        cell = re.search(r'<div class="field invalid">\s*<input form="service-CLEAN_HOME" id="service-CLEAN_HOME-min_minutes"'
                         r'.*?</div>', r.text, re.S).group(0)
        assert 'value="45"' in cell and "最低服务时长不能超过默认服务时长" in cell
    after = await Service.get(code="CLEAN_HOME")
    assert (after.default_minutes, after.min_minutes, after.points_per_hour) == (90, 20, 12)


async def test_in_a_browser_an_admin_adds_a_district_and_a_station_and_sends_a_letter_again(api, client, browser):  # noqa: F811
    admin = await make_admin(client)
    now = api.app.ctx.clock()
    user = await User.create(openid=new_openid("dead"))
    row = await OutboxMessage.create(notification_id=0, user_id=user.id, openid=user.openid, status="dead",
                                     template_id="TPL", data={}, next_attempt_at=now, created_at=now, attempts=5,
                                     last_error="gave up after 5: timeout")
    page = await browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await page.goto(f"{api.url}/console/admin/stations")
    await page.get_by_label("区市名称").fill("环翠区")
    await page.get_by_label("区市编码").fill("环翠 区")
    await page.get_by_role("button", name="添加区市").click()
    await page.get_by_text("格式不正确").wait_for()
    assert await page.get_by_label("区市编码").input_value() == "环翠 区"
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "admin-district-invalid.png"), full_page=True)
    await page.get_by_label("区市编码").fill("371002")
    await page.get_by_role("button", name="添加区市").click()
    await page.get_by_text("已添加区市「环翠区」").wait_for()
    await page.get_by_label("所属区市").select_option(label="环翠区")
    await page.get_by_label("驿站名称").fill("鲸园驿站")
    await page.get_by_label("街道/镇").fill("鲸园街道")
    await page.get_by_label("地址", exact=True).fill("新威路1号")
    await page.get_by_role("button", name="添加驿站").click()
    await page.get_by_text("已添加驿站「鲸园驿站」").wait_for()
    await page.screenshot(path=str(SHOTS / "admin-stations.png"), full_page=True)
    assert await Station.exists(name="鲸园驿站")

    await page.goto(f"{api.url}/console/admin/staff")
    await page.screenshot(path=str(SHOTS / "admin-staff.png"), full_page=True)
    await page.goto(f"{api.url}/console/admin/dead-letters")
    await page.screenshot(path=str(SHOTS / "admin-dead-letters.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="重新发送").click()
    await page.get_by_text("已重新排入发送队列").wait_for()
    assert (await OutboxMessage.get(id=row.id)).status == "pending"
    assert errors == [], errors
