"""The 信用威海对接 pages of the console: an administrator reads the consent text in force and how many
volunteers stand where with it, makes the next batch (the API's same export), and seals a batch for
信用威海 with its RSA key or a password (the API's same envelope, opened here as 信用威海 would);
a bad key or a short password is refused in words and nothing goes; a worker is refused. Then the
same in Chromium, down to the saved file."""

from __future__ import annotations

import base64
import dataclasses
import json
import re

from config.data import CREDIT_CONSENT
from models import AuditLog, CreditBatch, CreditIncrement
from server.clock import CHINA_TZ
from server.points import consent as consent_service
from tests.builders import make_admin, make_station, make_volunteer, make_worker, random_id_number
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)
from tests.handlers.console.support import console_browser, text_of
from tests.handlers.console.test_console_access import HOSTILE_FORMS
from tests.handlers.points.test_credit_handoff import PASSWORD, open_envelope, receiver_keys
from tests.server.points.test_credit import add_minutes, consent

CONSENT = "/api/v1/me/credit-consent"
HEADER = ["姓名", "身份证号", "累计时长(小时)", "增加分值", "依据"]


def saved_file(page: str) -> tuple[str, dict]:
    """The sealed file the page offers: its name and the envelope it holds."""
    found = re.search(r'href="data:application/json;base64,([A-Za-z0-9+/=]+)" download="([^"]+)"', page)
    assert found, "no file to save on the page"
    return found.group(2), json.loads(base64.b64decode(found.group(1)))


async def consenting_world(api, client):
    """Three volunteers of 12 verified hours: 孙同意 consents, 周撤回 consents (and will withdraw),
    李未授 never does; and the admin."""
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    people = {}
    for name in ("孙同意", "周撤回", "李未授"):
        number = random_id_number()
        session, profile = await make_volunteer(client, station, approved_by=worker, name=name, id_number=number)
        await add_minutes(api, session.id, 12 * 60)
        people[name] = (session, profile, number)
    await consent(client, people["孙同意"][0])
    await consent(client, people["周撤回"][0])
    return admin, worker, people


async def test_the_page_shows_the_consent_text_and_how_many_stand_where(api, client, monkeypatch):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    volunteers = [(await make_volunteer(client, station, approved_by=worker))[0] for _ in range(6)]
    yes, also, back, gone, old, never = volunteers
    for v in (yes, also, back, gone):
        await consent(client, v)
    for v in (back, gone):
        assert (await client.delete(CONSENT, headers=v.headers)).status_code == 200
    await consent(client, back)  # withdrew, then agreed again: consenting
    # One agreed to an earlier text and has not read the one in force.
    monkeypatch.setitem(CREDIT_CONSENT, "version", "2025.1")
    await consent(client, old)
    monkeypatch.undo()
    standing = await consent_service.standing()
    assert (standing["consented"], standing["outdated"], standing["withdrawn"]) == (3, 1, 1)

    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/credit")
        assert r.status_code == 200, r.text
        shown = text_of(r.text)
    assert f"现行知情同意书(第 {CREDIT_CONSENT['version']} 版)" in shown and CREDIT_CONSENT["title"] in shown
    for line in CREDIT_CONSENT["text"].split("\n"):
        assert f"<p>{line}</p>" in r.text, line  # the whole text, as the volunteer reads it
    tiles = re.findall(r'<span class="count">(\d+)</span><span class="label">([^<]+)</span>', r.text)
    assert tiles == [("3", "已授权(同意现行版本)"), ("1", "同意书已更新,待重新授权"), ("1", "已撤回")]
    assert "还没有生成过批次" in shown
    assert '<a href="/console/admin/credit" aria-current="page">信用威海对接</a>' in r.text
    assert "consented" not in shown and "withdrawn" not in shown  # words, not codes


async def test_the_batch_button_makes_the_batch_the_api_would_and_then_finds_nothing_new(api, client):
    admin, _, people = await consenting_world(api, client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/credit")
        r = await b.post("/console/admin/credit/batches")
        assert r.status_code == 200, r.text
        [batch] = await CreditBatch.all()
        assert f"已生成第 {batch.id} 批,共 2 条海贝分增量" in text_of(r.text)
        assert batch.created_by == admin.id and batch.count == 2
        # The API's own read of the batch: the increments of those whose consent is in force, as
        # the export makes them (10 hours reached: +2).
        api_batch = (await client.get(f"/api/v1/admin/credit-exports/{batch.id}", headers=admin.headers)).json()
        assert sorted((i["user_id"], i["threshold_hours"], i["increment"]) for i in api_batch["increments"]) == sorted(
            (people[n][0].id, 10, 2) for n in ("孙同意", "周撤回"))
        row = re.search(r"<tr><td>第 \d+ 批</td>.*?</tr>", r.text, re.S).group(0)
        local = batch.created_at.astimezone(CHINA_TZ)
        assert local.strftime("%Y-%m-%d %H:%M") in row and ">2<" in row and f"编号 {admin.id}" in row and "管理员" in row

        page = await b.get(f"/console/admin/credit/batches/{batch.id}")
        assert page.status_code == 200, page.text
        shown = text_of(page.text)
        for name in ("孙同意", "周撤回"):
            _, profile, number = people[name]
            assert f"{number[:4]}**********{number[-4:]}" in shown and number not in page.text
            assert re.search(rf"<td>{profile['id']}</td>.*?<td class=\"num\">12</td>\s*<td class=\"num\">\+2</td>\s*"
                             r"<td>志愿服务时长累计达到 10 小时;服务任务编号:无</td>", page.text, re.S)
        assert "李未授" not in shown

        # Nothing new since: the console says so plainly, and so does the API.
        again = await b.post("/console/admin/credit/batches")
        assert again.status_code == 200
        assert "没有新的可导出记录" in text_of(again.text)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 200 and r.json()["count"] == 0
    assert await CreditBatch.all().count() == 1


async def test_a_batch_sealed_for_the_receivers_key_or_a_password_opens_to_consenting_volunteers_only(api, client):
    admin, _, people = await consenting_world(api, client)
    yes_number = people["孙同意"][2]
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/credit")
        await b.post("/console/admin/credit/batches")
        [batch] = await CreditBatch.all()
        # Withdrawn after the batch was made, before it went: kept out of what goes.
        assert (await client.delete(CONSENT, headers=people["周撤回"][0].headers)).json()["state"] == "withdrawn"
        url = f"/console/admin/credit/batches/{batch.id}/transfer"

        private, pem = receiver_keys()
        r = await b.post(url, {"way": "key", "public_key_pem": pem})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        shown = text_of(r.text)
        assert f"已加密第 {batch.id} 批:提供 1 条,另有 1 条未纳入" in shown
        filename, envelope = saved_file(r.text)
        assert filename == f"haibei-credit-{batch.id}.enc.json"
        assert envelope["alg"] == "RSA-OAEP-256+A256GCM" and (envelope["count"], envelope["left_out"]) == (1, 1)
        rows = open_envelope(envelope, private_key=private)
        assert rows == [HEADER, ["孙同意", yes_number, "12", "2",
                                 f"志愿服务时长累计达到10小时;海贝批次{batch.id};服务任务编号无"]]
        assert yes_number not in r.text and "孙同意" not in r.text  # sealed: nothing readable on the way

        # Asked without htmx, the same view answers as the API: the file itself, never cached.
        r = await b.client.post(url, data={"way": "password", "password": PASSWORD, "password_confirm": PASSWORD},
                                headers={"X-CSRF-Token": b.csrf})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-disposition"] == f'attachment; filename="haibei-credit-{batch.id}.enc.json"'
        envelope = r.json()
        assert envelope["alg"] == "scrypt+A256GCM" and envelope["filename"] == f"haibei-credit-{batch.id}.csv"
        rows = open_envelope(envelope, password=PASSWORD)
        assert [row[:2] for row in rows[1:]] == [["孙同意", yes_number]]
        for name in ("周撤回", "李未授"):
            assert people[name][2] not in "\n".join(",".join(row) for row in rows)

    # Each handoff is on the audit trail, as the API's: who, which batch, whose data went.
    audits = await AuditLog.filter(action="credit.export").order_by("id")
    assert [(a.actor_id, a.subject_id, a.detail["alg"]) for a in audits] == [
        (admin.id, batch.id, "RSA-OAEP-256+A256GCM"), (admin.id, batch.id, "scrypt+A256GCM")]
    assert audits[0].detail["volunteer_ids"] == [people["孙同意"][1]["id"]]


async def test_a_bad_key_a_short_or_mistyped_password_is_refused_in_words_and_nothing_goes(api, client, tmp_path):
    admin, _, _ = await consenting_world(api, client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/credit")
        await b.post("/console/admin/credit/batches")
        [batch] = await CreditBatch.all()
        url = f"/console/admin/credit/batches/{batch.id}/transfer"

        r = await b.post(url, {"way": "key", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nnot a key\n"})
        assert r.status_code == 400
        assert re.search(r'<span class="error" id="way-key-public_key_pem-error">无法识别的公钥:请提供 PEM 格式、'
                         r"至少 2048 位的 RSA 公钥", r.text)
        assert "not a key" in r.text  # what was typed comes back to be corrected
        r = await b.post(url, {"way": "key"})
        assert r.status_code == 422 and "请粘贴信用威海提供的公钥" in r.text

        short = "short-pass1"
        r = await b.post(url, {"way": "password", "password": short, "password_confirm": short})
        assert r.status_code == 422
        assert re.search(r'id="way-password-password-error">传输密码至少 12 位,只能使用英文字母、数字和符号', r.text)
        assert short not in r.text  # a password is never written back into the page
        r = await b.post(url, {"way": "password", "password": "Weihai credit 2026", "password_confirm": "Weihai credit 2026"})
        assert r.status_code == 422 and "不含空格" in r.text
        r = await b.post(url, {"way": "password", "password": PASSWORD, "password_confirm": PASSWORD + "x"})
        assert r.status_code == 422
        assert re.search(r'id="way-password-password_confirm-error">两次填写的传输密码不一致', r.text)
        assert PASSWORD not in r.text

        r = await b.post(url, {"way": "configured"})  # none configured
        assert r.status_code == 400 and "请提供信用威海的公钥或传输密码" in text_of(r.text)
        r = await b.post(url, {"public_key_pem": "x"})
        assert r.status_code == 422 and "请在批次页面上选择加密方式" in r.text
        r = await b.post("/console/admin/credit/batches/999999/transfer", {"way": "password", "password": PASSWORD,
                                                                         "password_confirm": PASSWORD})
        assert r.status_code == 404 and "批次不存在" in r.text
        assert await AuditLog.filter(action="credit.export").count() == 0  # nothing went

        page = await b.get(f"/console/admin/credit/batches/{batch.id}")
        assert "使用系统配置的信用威海公钥" not in page.text and 'href="data:' not in page.text

        # 信用威海's key configured for the deployment: said, and offered.
        private, pem = receiver_keys()
        key_file = tmp_path / "xinyong-weihai.pem"
        key_file.write_text(pem)
        settings = api.app.ctx.settings
        api.app.ctx.settings = dataclasses.replace(settings, credit_receiver_key_file=str(key_file))
        try:
            page = await b.get(f"/console/admin/credit/batches/{batch.id}")
            assert "运维人员已为本系统配置信用威海的公钥" in text_of(page.text)
            r = await b.post(url, {"way": "configured"})
            assert r.status_code == 200, r.text
            _, envelope = saved_file(r.text)
            assert [row[0] for row in open_envelope(envelope, private_key=private)[1:]] == ["孙同意", "周撤回"]
            key_file.write_text("not a key")
            page = await b.get(f"/console/admin/credit/batches/{batch.id}")
            assert "系统配置的信用威海公钥无法使用" in text_of(page.text) and 'value="configured"' not in page.text
        finally:
            api.app.ctx.settings = settings


async def test_a_worker_is_refused_and_sees_no_link(api, client):
    admin, worker, _ = await consenting_world(api, client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/credit")
        await b.post("/console/admin/credit/batches")
    [batch] = await CreditBatch.all()
    async with console_browser(api, worker.openid) as b:
        desk = await b.get("/console/")
        assert desk.status_code == 200 and "信用威海对接" not in desk.text
        for path in ("/console/admin/credit", f"/console/admin/credit/batches/{batch.id}"):
            r = await b.get(path)
            assert r.status_code == 403 and "此页面仅供管理员使用" in r.text, path
        for path, form in (("/console/admin/credit/batches", {}),
                           (f"/console/admin/credit/batches/{batch.id}/transfer",
                            {"way": "password", "password": PASSWORD, "password_confirm": PASSWORD})):
            r = await b.post(path, form)
            assert r.status_code == 403 and "此页面仅供管理员使用" in r.text, path
    assert await CreditBatch.all().count() == 1 and await AuditLog.filter(action="credit.export").count() == 0


async def test_hostile_forms_to_the_credit_forms_are_refused_plainly(api, client):
    admin, _, _ = await consenting_world(api, client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/credit")
        await b.post("/console/admin/credit/batches")
        [batch] = await CreditBatch.all()
        for path in ("/console/admin/credit/batches", f"/console/admin/credit/batches/{batch.id}/transfer"):
            for body in HOSTILE_FORMS:
                r = await b.client.post(path, content=body, headers={
                    "X-CSRF-Token": b.csrf, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"})
                assert r.status_code < 500, (path, body[:40], r.status_code, r.text[:300])
    assert await CreditIncrement.filter(batch_id=batch.id).count() == 2


async def test_an_administrator_makes_a_batch_and_saves_it_sealed_with_a_password(api, client, browser, tmp_path):  # noqa: F811
    admin, _, people = await consenting_world(api, client)
    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await page.get_by_role("link", name="信用威海对接").click()
    await page.get_by_role("heading", name=CREDIT_CONSENT["title"]).wait_for()
    await page.get_by_role("button", name="生成新批次").click()
    await page.get_by_text("共 2 条海贝分增量").wait_for()
    await w.shot("console-credit")
    await page.get_by_role("link", name="查看并加密交付").click()
    await page.locator("#increments tbody tr").nth(1).wait_for()

    await page.get_by_label("传输密码", exact=True).fill("short")
    await page.get_by_label("再次输入传输密码").fill("short")
    await page.get_by_role("button", name="用传输密码加密").click()
    await page.get_by_text("传输密码至少 12 位").wait_for()

    await page.get_by_label("传输密码", exact=True).fill(PASSWORD)
    await page.get_by_label("再次输入传输密码").fill(PASSWORD)
    await page.get_by_role("button", name="用传输密码加密").click()
    link = page.get_by_role("link", name=re.compile("下载加密文件"))
    await link.wait_for()
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    [batch] = await CreditBatch.all()
    assert download.suggested_filename == f"haibei-credit-{batch.id}.enc.json"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    rows = open_envelope(json.loads(saved.read_text()), password=PASSWORD)
    assert rows[0] == HEADER
    assert sorted((row[0], row[1]) for row in rows[1:]) == sorted(
        (name, people[name][2]) for name in ("孙同意", "周撤回"))
    main = await page.locator("main").inner_text()
    assert "已加密第" in main and "请通过电话或书面" in main and PASSWORD not in main
    await w.shot("console-credit-batch")
    w.clean(allowed_statuses=(422,))
