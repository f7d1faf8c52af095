"""A station worker's day in the console, over HTTP: accept, dispatch and report needs, confirm
service records one by one and in batch, find a household and read its story, review volunteers.
Every action is checked against the database through the API, not against the page alone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from models import AuditLog, Need, Task
from server.clock import CHINA_TZ
from tests.builders import (
    make_need, make_open_task_and_volunteer, make_resident, make_station, make_task, make_volunteer, make_worker,
    serve_and_record,
)
from tests.handlers.console.support import console_browser, text_of


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = datetime.now(CHINA_TZ).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ)


async def test_a_need_is_accepted_and_dispatched_with_local_times(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/needs?status=submitted")
        assert page.status_code == 200 and f'href="/console/needs/{need["id"]}"' in page.text
        assert "待受理" in page.text and "submitted" not in text_of(page.text)

        r = await b.post(f"/console/needs/{need['id']}/accept")
        assert r.status_code == 204 and r.headers["hx-redirect"] == f"/console/needs/{need['id']}?ok=accepted"
        assert (await Need.get(id=need["id"])).status == "accepted"
        page = await b.get(r.headers["hx-redirect"])
        assert "已受理。下一步" in page.text and 'id="dispatch"' in page.text

        start, end = tomorrow_at(9, 30), tomorrow_at(11, 0)
        r = await b.post(f"/console/needs/{need['id']}/tasks", {
            "title": "打扫卫生", "scheduled_start": start.strftime("%Y-%m-%dT%H:%M"),
            "scheduled_end": end.strftime("%Y-%m-%dT%H:%M"), "volunteers_needed": "2", "points": ""})
        assert r.status_code == 204, text_of(r.text)
        task = await Task.get(need_id=need["id"])
        # What the worker typed is Weihai's time: 09:30 there is 01:30 UTC.
        assert task.scheduled_start == start and task.scheduled_end == end and task.volunteers_needed == 2
        page = await b.get(f"/console/needs/{need['id']}")
        assert "打扫卫生" in page.text and "待认领" in page.text
        assert f"{start:%Y-%m-%d} 09:30" in page.text


async def test_a_bad_dispatch_says_why_beside_the_field_and_creates_nothing(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    async with console_browser(api, worker.openid) as b:
        await b.post(f"/console/needs/{need['id']}/accept")
        r = await b.post(f"/console/needs/{need['id']}/tasks", {
            "title": "", "scheduled_start": "明天上午", "scheduled_end": tomorrow_at(11).strftime("%Y-%m-%dT%H:%M"),
            "volunteers_needed": "30", "notes_for_volunteer": "请带拖把"})
        assert r.status_code == 422
        assert "请填写此项" in r.text and "请填写正确的日期和时间" in r.text and "不能大于 20" in r.text
        assert "请带拖把" in r.text and 'value="明天上午"' in r.text  # what was typed stays
        # The service's own rule (the end before the start) is shown the same way.
        r = await b.post(f"/console/needs/{need['id']}/tasks", {
            "title": "打扫", "scheduled_start": tomorrow_at(11).strftime("%Y-%m-%dT%H:%M"),
            "scheduled_end": tomorrow_at(9).strftime("%Y-%m-%dT%H:%M")})
        assert r.status_code == 400 and "结束时间须晚于开始时间" in r.text and 'class="form-error"' in r.text
    assert not await Task.filter(need_id=need["id"]).exists()


async def test_a_need_is_rejected_only_with_a_reason(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    async with console_browser(api, worker.openid) as b:
        r = await b.post(f"/console/needs/{need['id']}/reject", {"reason": "  "})
        assert r.status_code == 422 and "请填写此项" in r.text
        assert (await Need.get(id=need["id"])).status == "submitted"
        r = await b.post(f"/console/needs/{need['id']}/reject", {"reason": "不在本驿站服务范围"})
        assert r.status_code == 204
    need_row = await Need.get(id=need["id"])
    assert need_row.status == "rejected" and need_row.status_reason == "不在本驿站服务范围"


async def test_a_worker_reports_a_need_for_a_household_without_a_phone(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    r = await client.post("/api/v1/residents", headers=worker.headers, json={
        "name": "孙大爷", "station_id": station.id, "community": "新威社区", "categories": ["特困"]})
    assert r.status_code == 201, r.text
    resident_id = r.json()["id"]
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/households/{resident_id}/report")
        assert page.status_code == 200 and "代报需求" in page.text and "居室保洁" in page.text
        r = await b.post(f"/console/households/{resident_id}/report", {"service_code": "", "description": "需要助浴"})
        assert r.status_code == 422 and "请填写此项" in r.text and "需要助浴" in r.text
        r = await b.post(f"/console/households/{resident_id}/report", {
            "service_code": "CLEAN_HOME", "description": "独居老人,家里需要打扫", "urgency": "urgent", "source": "visit"})
        assert r.status_code == 204, text_of(r.text)
    need = await Need.get(resident_id=resident_id)
    assert need.on_behalf and need.source == "visit" and need.urgency == "urgent" and need.reported_by == worker.id


async def test_records_are_confirmed_one_by_one_and_in_batch_and_points_follow(api, client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer, minutes=45)
    second_need = await make_need(client, (await make_resident(client, station))[0])
    second = await make_task(client, worker, second_need)
    third_need = await make_need(client, (await make_resident(client, station))[0])
    third = await make_task(client, worker, third_need)
    # Other volunteers: one volunteer's tasks may not overlap in time.
    await serve_and_record(client, second["id"], (await make_volunteer(client, station, approved_by=worker))[0], minutes=40)
    await serve_and_record(client, third["id"], (await make_volunteer(client, station, approved_by=worker))[0],
                           minutes=5)  # shorter than the service's minimum
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/records")
        assert page.status_code == 200
        assert all(f'id="record-{t["id"]}"' in page.text for t in (task, second, third))
        assert "记录 45 分钟" in page.text and "距服务地点 0 米" in page.text and "短于最低时长" in page.text

        r = await b.post(f"/console/records/{task['id']}/confirm", {"minutes": "9999"})
        assert r.status_code == 422 and "不能大于 1440" in r.text and 'value="9999"' in r.text
        r = await b.post(f"/console/records/{task['id']}/confirm", {"minutes": ""})
        assert r.status_code == 204 and r.headers["hx-redirect"] == "/console/records?ok=confirmed"
        assert (await Task.get(id=task["id"])).status == "confirmed"

        r = await b.post("/console/records/confirm", [("ids", str(second["id"])), ("ids", str(third["id"]))])
        assert r.status_code == 200
        results = text_of(r.text)
        assert f"任务 {second['id']}: 已确认" in results and f"任务 {third['id']}: 未确认" in results
        assert (await Task.get(id=second["id"])).status == "confirmed"
        assert (await Task.get(id=third["id"])).status == "submitted"  # wants its own reason
        r = await b.post(f"/console/records/{third['id']}/confirm", {"reason": "居民临时外出,服务提前结束"})
        assert r.status_code == 204
        assert (await Task.get(id=third["id"])).status == "confirmed"

        volunteer_id = (await Task.get(id=task["id"]).prefetch_related("claims")).claims[0].volunteer_id
        page = await b.get(f"/console/volunteers/{volunteer_id}")
        balance = int(re.search(r'data-name="balance">(\d+)<', page.text).group(1))
        api_balance = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["balance"]
        assert balance == api_balance and balance > 0
        assert "服务奖励" in page.text and "service_award" not in page.text

        page = await b.get(f"/console/households/{need['resident_id']}")
        timeline = text_of(page.text[page.text.index('id="timeline"'):])
        assert "任务" in timeline and "已确认" in timeline and "志愿者" in timeline
        assert "45 分钟" in page.text


async def test_a_record_is_sent_back_with_a_reason(api, client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer)
    async with console_browser(api, worker.openid) as b:
        r = await b.post(f"/console/records/{task['id']}/reject", {"reason": ""})
        assert r.status_code == 422 and "请填写此项" in r.text
        r = await b.post(f"/console/records/{task['id']}/reject", {"reason": "照片与服务内容不符"})
        assert r.status_code == 204
    assert (await Task.get(id=task["id"])).status != "submitted"


async def test_households_are_found_by_exact_number_or_name_and_shown_masked(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, wang = await make_resident(client, station, name="王秀英", phone="13912345678")
    _, li = await make_resident(client, station, name="李建国")
    number = (await client.get(f"/api/v1/residents/{li['id']}/unmasked", headers=worker.headers)).json()["id_number"]
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/households")
        assert f"/console/households/{wang['id']}" in page.text and f"/console/households/{li['id']}" in page.text
        assert "王秀英" not in page.text and "13912345678" not in page.text  # masked by default

        page = await b.post("/console/households", {"q": "139 1234 5678"})
        assert f"/console/households/{wang['id']}" in page.text and f"/console/households/{li['id']}" not in page.text
        page = await b.post("/console/households", {"q": "1391234567"})  # a digit short: no partial match
        assert f"/console/households/{wang['id']}" not in page.text
        page = await b.post("/console/households", {"q": number.lower()})
        assert f"/console/households/{li['id']}" in page.text and f"/console/households/{wang['id']}" not in page.text
        # Searched by POST, and shown back masked: the number is in no address and no page.
        assert number not in page.text and number.lower() not in page.text and "已按 " in page.text
        bad = number[:17] + ("0" if number[17] != "0" else "1")
        page = await b.post("/console/households", {"q": bad})
        assert "身份证号码有误" in page.text
        page = await b.post("/console/households", {"q": "李"})
        assert f"/console/households/{li['id']}" in page.text and f"/console/households/{wang['id']}" not in page.text


async def test_full_details_need_a_reason_and_are_audited_as_the_apis_read(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, household = await make_resident(client, station, name="王秀英", phone="13912345678")
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/households/{household['id']}")
        assert "13912345678" not in page.text and "139****5678" in page.text
        r = await b.post(f"/console/households/{household['id']}/reveal", {"reason": ""})
        assert r.status_code == 422 and "13912345678" not in r.text
        assert not await AuditLog.filter(action="resident.read_unmasked", subject_id=household["id"]).exists()
        r = await b.post(f"/console/households/{household['id']}/reveal", {"reason": "电话回访"})
        assert r.status_code == 200 and "13912345678" in r.text and "王秀英" in r.text
    rows = await AuditLog.filter(action="resident.read_unmasked", subject_id=household["id"])
    assert len(rows) == 1 and rows[0].actor_id == worker.id and rows[0].detail == {"reason": "电话回访"}
    assert "phone" in rows[0].fields_read


async def test_a_volunteer_application_is_approved_or_rejected(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, first = await make_volunteer(client, station)
    _, second = await make_volunteer(client, station, name="钱志愿")
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/volunteers", params={"status": "pending"})
        assert "赵志愿" in page.text and "钱志愿" in page.text and "待审核" in page.text
        r = await b.post(f"/console/volunteers/{first['id']}/approve")
        assert r.status_code == 200 and "已通过审核" in r.text
        r = await b.post(f"/console/volunteers/{second['id']}/reject", {"reason": ""})
        assert r.status_code == 422 and "请填写此项" in r.text
        r = await b.post(f"/console/volunteers/{second['id']}/reject", {"reason": "未提供有效联系方式"})
        assert r.status_code == 200 and "已驳回申请" in r.text
    statuses = {v["id"]: v["status"] for v in (await client.get(
        "/api/v1/volunteers", headers=worker.headers)).json()["items"]}
    assert statuses == {first["id"]: "approved", second["id"]: "rejected"}


async def test_a_reward_is_handed_over_once_by_its_code(api, client):
    from models import Redemption
    from tests.builders import give_points, make_reward

    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, name="赵志愿")
    await give_points(api, volunteer, 50)
    reward = await make_reward()
    r = await client.post(f"/api/v1/rewards/{reward.id}/redeem", headers={**volunteer.headers, "Idempotency-Key": "pickup-1"})
    assert r.status_code in (200, 201), r.text
    code = r.json()["pickup_code"]
    async with console_browser(api, worker.openid) as b:
        r = await b.post("/console/rewards/look-up", {"code": "ABC"})
        assert r.status_code == 422 and "兑换码为8位字母和数字" in r.text
        r = await b.post("/console/rewards/look-up", {"code": "ZZZZZZZZ"})
        assert r.status_code == 404 and "兑换码不存在" in r.text
        r = await b.post("/console/rewards/look-up", {"code": code.lower()})
        assert r.status_code == 200 and "爱心米面油礼包" in r.text and "待领取" in r.text and "赵**" in r.text
        assert (await Redemption.get(pickup_code=code)).status == "pending"  # looking changes nothing
        r = await b.post("/console/rewards/fulfil", {"code": code})
        assert r.status_code == 200 and "已发放" in r.text and "已领取" in r.text
        r = await b.post("/console/rewards/fulfil", {"code": code})
        assert r.status_code == 409 and "已领取" in r.text
    redemption = await Redemption.get(pickup_code=code)
    assert redemption.status == "fulfilled" and redemption.fulfilled_by == worker.id


def visit_form(answers: dict) -> list[tuple[str, str]]:
    """The questionnaire's answers as the assessment page posts them."""
    out = []
    for key, value in answers.items():
        if isinstance(value, bool):
            out.append((f"a_{key}", "yes" if value else "no"))
        elif isinstance(value, list):
            out += [(f"a_{key}", v) for v in value]
        else:
            out.append((f"a_{key}", str(value)))
    return out


async def test_a_home_visit_is_recorded_from_the_questionnaire_item_by_item(api, client):
    from models import Assessment
    from tests.handlers.care.test_assessments import HARD

    station = await make_station()
    worker = await make_worker(client, station)
    _, household = await make_resident(client, station)
    visited = (datetime.now(CHINA_TZ) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/households/{household['id']}/assess")
        assert page.status_code == 200 and "共同生活人数" in page.text and "无人照料" in page.text
        wrong = {**HARD, "household_size": 99}
        del wrong["caregiver"]
        r = await b.post(f"/console/households/{household['id']}/assess",
                         visit_form(wrong) + [("visited_at", visited), ("visit_notes", "卧床")])
        assert r.status_code == 422
        assert "请选择一项" in r.text and "请填写 1–20 之间的数字" in r.text and "卧床" in r.text
        assert 'value="99"' in r.text  # what was typed stays
        assert not await Assessment.exists(resident_id=household["id"])
        r = await b.post(f"/console/households/{household['id']}/assess",
                         visit_form(HARD) + [("visited_at", visited), ("visit_notes", "卧床")])
        assert r.status_code == 204, text_of(r.text)
    row = await Assessment.get(resident_id=household["id"])
    assert row.level == "特别困难" and row.overall == 91.54 and row.assessor_id == worker.id


async def test_a_household_is_paired_with_a_volunteer_and_the_pairing_ended(api, client):
    from models import Pairing

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    _, volunteer = await make_volunteer(client, station, approved_by=worker, name="钱志愿")
    starts = (datetime.now(CHINA_TZ).date() + timedelta(days=1)).isoformat()
    async with console_browser(api, worker.openid) as b:
        await b.post(f"/console/needs/{need['id']}/accept")
        page = await b.get(f"/console/needs/{need['id']}")
        assert 'id="pairing"' in page.text and "钱志愿" in page.text
        r = await b.post(f"/console/needs/{need['id']}/pairings", [
            ("volunteer_id", str(volunteer["id"])), ("start_time", "09:00"), ("minutes", "60"), ("starts_on", starts)])
        assert r.status_code == 422 and "至少 1 项" in r.text  # no weekday ticked
        assert not await Pairing.exists(need_id=need["id"])
        r = await b.post(f"/console/needs/{need['id']}/pairings", [
            ("volunteer_id", str(volunteer["id"])), ("weekdays", "1"), ("weekdays", "4"), ("start_time", "09:00"),
            ("minutes", "60"), ("starts_on", starts)])
        assert r.status_code == 204, text_of(r.text)
        pairing = await Pairing.get(need_id=need["id"])
        page = await b.get("/console/pairings")
        assert f'id="pairing-{pairing.id}"' in page.text and "进行中" in page.text and "钱**" in page.text
        r = await b.post(f"/console/pairings/{pairing.id}/end", {"reason": ""})
        assert r.status_code == 422
        r = await b.post(f"/console/pairings/{pairing.id}/end", {"reason": "居民搬离"})
        assert r.status_code == 204
        page = await b.get("/console/referrals")
        assert page.status_code == 200 and "转介" in page.text
    assert (await Pairing.get(id=pairing.id)).status == "ended"


async def test_a_households_advice_and_its_visit_worksheet(api, client):
    from tests.handlers.care.test_assessments import HARD, assess

    station = await make_station()
    worker = await make_worker(client, station)
    _, household = await make_resident(client, station, checked_by=worker)
    await assess(client, worker, household["id"], HARD)
    recommended = (await client.get(f"/api/v1/residents/{household['id']}/recommendations",
                                    headers=worker.headers)).json()
    assert recommended, "the hard household fires a rule"
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/households/{household['id']}")
        assert f'hx-get="/console/households/{household["id"]}/advice"' in page.text
        r = await b.get(f"/console/households/{household['id']}/advice")
        assert r.status_code == 200 and recommended[0]["reason"] in r.text
        code = recommended[0]["services"][0]
        assert f"/report?service={code}" in r.text
        form = await b.get(f"/console/households/{household['id']}/report", params={"service": code})
        assert f'value="{code}" selected' in form.text
        r = await b.get(f"/console/households/{household['id']}/worksheet.xlsx")
        assert r.status_code == 200 and r.content[:2] == b"PK" and "no-store" in r.headers["cache-control"]


async def test_a_records_photos_are_shown_to_its_station_only(api, client):
    from tests.builders import record_after
    from tests.handlers.workflow.test_catalogue_uploads import tiny_png

    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    r = await client.post("/api/v1/uploads", files={"file": ("p.png", tiny_png(), "image/png")},
                          headers=volunteer.headers)
    assert r.status_code == 201, r.text
    photo = r.json()["id"]
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                          headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], volunteer, 40, photos=[photo])).status_code == 200
    other = await make_worker(client, await make_station())
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/records")
        assert f'src="/console/photos/{photo}"' in page.text and "照片:1 张" in page.text
        r = await b.get(f"/console/photos/{photo}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content == tiny_png()
        assert "no-store" in r.headers["cache-control"]
    async with console_browser(api, other.openid) as b:
        assert (await b.get(f"/console/photos/{photo}")).status_code == 404


async def test_households_are_filtered_by_category_and_difficulty_level(api, client):
    from tests.handlers.care.test_assessments import HARD, MILD, assess

    station = await make_station()
    worker = await make_worker(client, station)
    _, hard = await make_resident(client, station, checked_by=worker, categories=["特困"])
    _, mild = await make_resident(client, station, checked_by=worker, categories=["低保"])
    await assess(client, worker, hard["id"], HARD)
    await assess(client, worker, mild["id"], MILD)
    async with console_browser(api, worker.openid) as b:
        page = await b.post("/console/households", {"level": "特别困难"})
        assert f"/console/households/{hard['id']}\"" in page.text and f"/console/households/{mild['id']}\"" not in page.text
        page = await b.get("/console/households", params={"category": "低保"})
        assert f"/console/households/{mild['id']}\"" in page.text and f"/console/households/{hard['id']}\"" not in page.text
        page = await b.get("/console/households", params={"level": "一般"})
        assert "没有找到符合条件的居民" in page.text


async def test_a_low_rating_is_followed_up_with_a_note(api, client):
    from tests.handlers.care.test_stats import deliver

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    need = await make_need(client, resident)
    await deliver(client, worker, volunteer, need, 30)
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 1, "would_use_again": False,
                                                                      "comment": "来得太晚"}, headers=resident.headers)
    assert r.status_code == 200, r.text
    other = await make_worker(client, await make_station())
    async with console_browser(api, other.openid) as b:
        assert (await b.post(f"/console/needs/{need['id']}/follow-up", {"note": "x"})).status_code == 404
    async with console_browser(api, worker.openid) as b:
        desk = await b.get("/console/")
        assert re.search(r'data-name="follow_ups">1<', desk.text)
        page = await b.get(f"/console/needs/{need['id']}")
        assert 'id="follow-up"' in page.text
        r = await b.post(f"/console/needs/{need['id']}/follow-up", {"note": ""})
        assert r.status_code == 422 and "请填写此项" in r.text
        r = await b.post(f"/console/needs/{need['id']}/follow-up", {"note": "已电话回访,志愿者因交通延误,已致歉"})
        assert r.status_code == 204
        desk = await b.get("/console/")
        assert re.search(r'data-name="follow_ups">0<', desk.text)
        page = await b.get(f"/console/needs/{need['id']}")
        assert 'id="follow-up"' not in page.text and "回访:已电话回访" in page.text
    r = await client.post(f"/api/v1/needs/{need['id']}/follow-up", json={"note": "再次"}, headers=worker.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "NO_FOLLOW_UP"
    row = await Need.get(id=need["id"])
    assert not row.follow_up and row.followed_up_by == worker.id
