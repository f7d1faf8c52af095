"""Complaints (投诉) in the console, over HTTP: the station's list in Chinese with the overdue ones
marked, a complaint of another station nowhere to be found, an answer refused without changing
anything, an answer given (and the complainant told), the district answering an escalated one,
and a complaint filed for a household from its page. Each checked in the database."""

from __future__ import annotations

import re

from models import Complaint, Notification
from server.care import complaints
from tests.builders import (
    clock_moved, make_admin, make_need, make_resident, make_station, make_volunteer, make_worker,
)
from tests.handlers.console.support import console_browser, text_of

DAY = 24 * 60


async def complain(client, session, **body) -> dict:
    r = await client.post("/api/v1/complaints", headers=session.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def listed_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="complaint-(\d+)">', page)]


async def test_the_station_lists_its_complaints_in_chinese_waiting_ones_first(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station, name="王秀英")
    need = await make_need(client, resident)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    first = await complain(client, resident, subject="service", subject_id=need["id"], text="志愿者迟到一个小时")
    second = await complain(client, volunteer, subject="station", text="积分迟迟未到账")
    r = await client.post(f"/api/v1/complaints/{second['id']}/answer", headers=worker.headers, json={"text": "已补发"})
    assert r.status_code == 200, r.text
    elsewhere = await complain(client, (await make_resident(client, await make_station()))[0], subject="station",
                               text="别的驿站的投诉")

    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/complaints")
        assert page.status_code == 200
        # The one waiting for an answer first, though the answered one is newer; none of B's.
        assert listed_ids(page.text) == [first["id"], second["id"]] and elsewhere["id"] not in listed_ids(page.text)
        shown = text_of(page.text)
        for words in ("待答复", "已答复", "服务", "驿站", "王**", "志愿者", f"需求 {need['id']}"):
            assert words in shown, words
        for code in ("open", "answered", "service", "station", "volunteer"):
            assert not re.search(rf"\b{code}\b", shown), code
        assert f'href="/console/needs/{need["id"]}"' in page.text
        assert f'href="/console/households/{household["id"]}"' in page.text
        assert "已逾期" not in shown

        page = await b.get("/console/complaints?status=answered")
        assert listed_ids(page.text) == [second["id"]]
        page = await b.get("/console/complaints?status=accepted")
        assert listed_ids(page.text) == [] and "没有“已解决”的投诉" in text_of(page.text)

        with clock_moved(3 * DAY + 60, api.app):  # past the 3 days, before the job escalates it
            page = await b.get("/console/complaints")
        row = re.search(rf'<tr id="complaint-{first["id"]}">.*?</tr>', page.text, re.S).group(0)
        assert "已逾期" in row and 'class="badge urgent"' in row
        assert "已逾期" not in re.search(rf'<tr id="complaint-{second["id"]}">.*?</tr>', page.text, re.S).group(0)


async def test_an_empty_list_says_so(api, client):
    worker = await make_worker(client, await make_station())
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/complaints")
    assert page.status_code == 200 and "暂无投诉" in page.text and "<table" not in page.text


async def test_another_stations_worker_finds_no_complaint_and_answers_none(api, client):
    station = await make_station()
    await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    complaint = await complain(client, resident, subject="station", text="无人回复")
    other = await make_worker(client, await make_station())
    async with console_browser(api, other.openid) as b:
        page = await b.get(f"/console/complaints/{complaint['id']}")
        assert page.status_code == 404 and "投诉不存在" in page.text and "无人回复" not in page.text
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "不是我们驿站的"})
        assert r.status_code == 404
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": ""})
        assert r.status_code == 404  # a refused form is no way to see it either
    row = await Complaint.get(id=complaint["id"])
    assert row.status == "open" and row.answer is None


async def test_a_bad_answer_is_refused_beside_the_field_and_changes_nothing(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    complaint = await complain(client, resident, subject="station", text="服务态度不好")
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/complaints/{complaint['id']}")
        assert page.status_code == 200 and "服务态度不好" in page.text and 'id="answer"' in page.text
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "   "})
        assert r.status_code == 422 and "请填写此项" in r.text
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "很" * 501})
        assert r.status_code == 422 and "最多 500 个字" in r.text and "很" * 501 in r.text  # what was typed stays
    row = await Complaint.get(id=complaint["id"])
    assert row.status == "open" and row.answer is None and row.answered_at is None
    assert not await Notification.filter(user_id=resident.id, event="complaint_answered").exists()


async def test_the_station_answers_and_the_complainant_is_told_once(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    complaint = await complain(client, resident, subject="station", text="服务不及时")
    async with console_browser(api, worker.openid) as b:
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "已核实,向您致歉,已加派志愿者"})
        assert r.status_code == 204 and r.headers["hx-redirect"] == f"/console/complaints/{complaint['id']}?ok=answered"
        page = await b.get(r.headers["hx-redirect"])
        shown = text_of(page.text)
        assert "已答复。投诉人认可后即为已解决" in shown and "答复:已核实,向您致歉" in shown
        assert 'id="answer"' not in page.text  # nothing left to answer
        # A second answer (a stale page, a colleague): the service's refusal, as a page, not a 500.
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "再答复一次"})
        assert r.status_code == 409 and "该投诉当前状态不能进行此操作" in r.text and "已核实,向您致歉" in r.text
    row = await Complaint.get(id=complaint["id"])
    assert row.status == "answered" and row.answer == "已核实,向您致歉,已加派志愿者" and row.answered_by == worker.id
    assert await Notification.filter(user_id=resident.id, event="complaint_answered").count() == 1


async def test_the_district_answers_a_complaint_once_it_is_escalated(api, client):
    station = await make_station(name="竹岛驿站")
    await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    complaint = await complain(client, resident, subject="station", text="三天无人答复")
    async with console_browser(api, admin.openid) as b:
        # Not yet escalated: the administrator reads it, but answering is the station's.
        page = await b.get(f"/console/complaints/{complaint['id']}")
        assert page.status_code == 200 and "三天无人答复" in page.text and 'id="answer"' not in page.text
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "区里来答复"})
        assert r.status_code == 403
        page = await b.get("/console/complaints")  # by default: the escalated ones
        assert listed_ids(page.text) == [] and "没有上报到区县的投诉" in page.text
        page = await b.get("/console/complaints?status=all")
        assert listed_ids(page.text) == [complaint["id"]] and "竹岛驿站" in page.text

        with clock_moved(3 * DAY + 60, api.app):
            assert await complaints.escalate_overdue(now=api.app.ctx.clock()) == 1
        page = await b.get("/console/complaints")
        assert listed_ids(page.text) == [complaint["id"]] and "已上报区县" in text_of(page.text)
        page = await b.get(f"/console/complaints/{complaint['id']}")
        assert 'id="answer"' in page.text and "已上报区县(由管理员督办答复)" in text_of(page.text)
        r = await b.post(f"/console/complaints/{complaint['id']}/answer", {"text": "区民政局督办,已约谈驿站"})
        assert r.status_code == 204, text_of(r.text)
    row = await Complaint.get(id=complaint["id"])
    assert row.status == "answered" and row.answered_by == admin.id
    assert await Notification.filter(user_id=resident.id, event="complaint_answered").exists()


async def test_a_worker_files_a_complaint_for_a_household_from_its_page(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station)
    need = await make_need(client, resident)
    other_need = await make_need(client, (await make_resident(client, await make_station()))[0])
    url = f"/console/households/{household['id']}/complaints"
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/households/{household['id']}")
        assert page.status_code == 200 and 'id="complain"' in page.text and "暂无投诉" in page.text
        r = await b.post(url, {"subject": "service", "subject_id": str(need["id"]), "text": " "})
        assert r.status_code == 422 and "请填写此项" in r.text and 'id="complaints"' in r.text
        r = await b.post(url, {"subject": "service", "subject_id": str(other_need["id"]), "text": "打扫不干净"})
        assert r.status_code == 400 and "投诉对象不存在或不属于该驿站" in r.text and "打扫不干净" in r.text
        assert not await Complaint.exists()

        r = await b.post(url, {"subject": "service", "subject_id": str(need["id"]), "text": "打扫不干净,老人不满意"})
        assert r.status_code == 204, text_of(r.text)
        complaint = await Complaint.get(resident_id=household["id"])
        assert r.headers["hx-redirect"] == f"/console/complaints/{complaint.id}?ok=filed"
        page = await b.get(r.headers["hx-redirect"])
        assert "已代为提交投诉" in page.text and "工作人员代为投诉" in page.text
        page = await b.get(f"/console/households/{household['id']}")
        assert f'href="/console/complaints/{complaint.id}"' in page.text and "待答复" in page.text
    assert (complaint.subject, complaint.subject_id, complaint.filed_by, complaint.complainant_user_id,
            complaint.text) == ("service", need["id"], worker.id, resident.id, "打扫不干净,老人不满意")
    assert await Notification.filter(user_id=worker.id, event="complaint_received").exists()


async def test_the_worker_who_filed_for_a_household_accepts_or_reopens_for_it(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    colleague = await make_worker(client, station)
    admin = await make_admin(client)
    _, household = await make_resident(client, station)
    filed = await complain(client, worker, subject="station", text="老人说上门时间总是改", resident_id=household["id"])
    cid = filed["id"]

    async def answer(text: str) -> None:
        r = await client.post(f"/api/v1/complaints/{cid}/answer", headers=colleague.headers, json={"text": text})
        assert r.status_code == 200, r.text

    await answer("以后提前一天电话确认")
    async with console_browser(api, colleague.openid) as other:
        # Only the worker who filed it speaks for the household.
        assert 'id="on-behalf"' not in (await other.get(f"/console/complaints/{cid}")).text
        assert (await other.post(f"/console/complaints/{cid}/accept", {})).status_code == 403
    async with console_browser(api, worker.openid) as b:
        page = await b.get(f"/console/complaints/{cid}")
        assert 'id="on-behalf"' in page.text and "居民认可,已解决" in text_of(page.text)
        r = await b.post(f"/console/complaints/{cid}/reopen", {"reason": "  "})
        assert r.status_code == 422 and "请填写此项" in r.text
        assert (await Complaint.get(id=cid)).status == "answered"
        r = await b.post(f"/console/complaints/{cid}/reopen", {"reason": "老人说还是没人提前打电话"})
        assert r.status_code == 204 and r.headers["hx-redirect"].endswith("?ok=reopened")
        row = await Complaint.get(id=cid)
        assert row.status == "open" and row.reopen_count == 1 and row.reopen_reason == "老人说还是没人提前打电话"
        await answer("已指定专人每次提前电话确认")
        r = await b.post(f"/console/complaints/{cid}/accept", {})
        assert r.status_code == 204 and r.headers["hx-redirect"].endswith("?ok=accepted")
        page = await b.get(r.headers["hx-redirect"])
        assert "已代居民确认认可答复" in text_of(page.text) and 'id="on-behalf"' not in page.text
        # Accepted already: a second click (a stale page) is the service's refusal, as a page.
        assert (await b.post(f"/console/complaints/{cid}/accept", {})).status_code == 409
    assert (await Complaint.get(id=cid)).status == "accepted"
    assert not await Notification.filter(user_id=admin.id, event="complaint_escalated").exists()
