"""The console's care administration pages: an administrator reads the policies, the points rules
and the questionnaire in force in words (labels, local dates, names, never codes), adds and edits a
policy, and publishes new rules and a new questionnaire, each seen afterwards through the API; a
form that fails comes back with what was typed and a Chinese message at its field, having changed
nothing; a worker gets 403 on every page and form."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import get_args

from config.data import POINTS_RULES, QUESTIONNAIRE
from handlers.care.schemas import PolicyIn
from models import Policy, PolicyRevision, PointsRules, QuestionnaireVersion
from server import labels
from tests.builders import make_admin, make_station, make_worker
from tests.handlers.console.support import console_browser, text_of

PAGES = ("/console/admin/policies", "/console/admin/points-rules", "/console/admin/questionnaire")


def field(page: str, form_id: str, name: str) -> str:
    """The markup of one field of a form, from its wrapper to the end of its message."""
    match = re.search(rf'<div class="field[^"]*">\s*<label for="{re.escape(form_id)}-{re.escape(name)}">.*?</div>',
                      page, re.S)
    assert match, f"no field {form_id}-{name} in the page"
    return match.group(0)


def policy_form(**over: str) -> dict[str, str]:
    form = {"title": "特困人员生活照料补贴", "issuer": "威海市民政局", "kind": "government_policy",
            "benefits": "每月护理补贴", "status": "active",
            "eligibility": json.dumps({"all": [{"category": "特困"},
                                               {"answer": "self_care", "in": ["partial", "none"]}]}),
            "valid_from": "2026-01-01T00:00", "valid_until": "2027-01-01T00:00"}
    form.update(over)
    return form


def spec_text(**over) -> str:
    spec = {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}
    spec.update(over)
    return json.dumps(spec, ensure_ascii=False, indent=2)


async def test_every_policy_kind_and_status_has_a_label():
    for name, vocabulary in (("kind", "policy_kind"), ("status", "policy_status")):
        for code in get_args(PolicyIn.model_fields[name].annotation):
            assert labels.label(vocabulary, code) != code, (vocabulary, code)


async def test_an_admin_adds_a_policy_and_reads_it_in_words_then_edits_it(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/policies")
        assert r.status_code == 200 and "还没有政策或救助项目" in r.text, r.text

        r = await b.post("/console/admin/policies", policy_form())
        assert r.status_code == 200, r.text
        assert "已添加政府政策「特困人员生活照料补贴」(第 1 版)" in r.text and 'class="flash ok"' in r.text
        policy = await Policy.get(title="特困人员生活照料补贴")
        # Weihai's midnight, stored as the moment it is.
        assert policy.valid_from == datetime(2025, 12, 31, 16, tzinfo=timezone.utc)
        assert policy.valid_until == datetime(2026, 12, 31, 16, tzinfo=timezone.utc)
        assert policy.eligibility == {"all": [{"category": "特困"}, {"answer": "self_care", "in": ["partial", "none"]}]}
        row = re.search(r"<tr>\s*<td>特困人员生活照料补贴</td>.*?</tr>", r.text, re.S).group(0)
        words = text_of(row)
        assert "政府政策" in words and "government_policy" not in words and "有效" in words
        assert "2026-01-01 至 2026-12-31" in words  # the last day in force, not the exclusive end
        assert "同时满足:(属于「特困」;「自理能力」为部分失能、完全失能)" in words
        assert f'href="/console/admin/policies/{policy.id}"' in row

        r = await b.get(f"/console/admin/policies/{policy.id}")
        assert r.status_code == 200, r.text
        assert 'value="2026-01-01T00:00"' in field(r.text, "policy-edit", "valid_from")
        assert "&#34;self_care&#34;" in field(r.text, "policy-edit", "eligibility")
        r = await b.post(f"/console/admin/policies/{policy.id}", policy_form(
            kind="charity_project", benefits="每月护理补贴300元",
            eligibility=json.dumps({"any": [{"categories_any": ["孤儿", "事实无人抚养"]},
                                            {"dimension": "children", "min": 80}]}, ensure_ascii=False)))
        assert r.status_code == 200, r.text
        assert "已保存「特困人员生活照料补贴」,现为第 2 版" in r.text and "慈善项目" in r.text
        assert "满足其一:(属于「孤儿」「事实无人抚养」之一;儿童及教育得分 ≥ 80)" in text_of(r.text)
    api_policy = next(p for p in (await client.get("/api/v1/policies", headers=admin.headers)).json()
                      if p["id"] == policy.id)
    assert (api_policy["kind"], api_policy["benefits"], api_policy["version"]) == ("charity_project", "每月护理补贴300元", 2)
    revisions = await PolicyRevision.filter(policy_id=policy.id).order_by("version")
    assert [(x.version, x.edited_by) for x in revisions] == [(1, admin.id), (2, admin.id)]


async def test_a_policy_the_schema_or_the_rules_parser_refuses_comes_back_said_at_its_field(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/policies")
        # Not JSON at all: said where, kept as typed.
        r = await b.post("/console/admin/policies", policy_form(title="", eligibility='{"category": 低保}'))
        assert r.status_code == 422, r.text
        rule = field(r.text, "policy-new", "eligibility")
        assert "不是有效的 JSON(第 1 行第 14 列附近)" in rule and "{&#34;category&#34;: 低保}" in rule
        assert 'aria-invalid="true"' in rule
        assert "请填写此项" in field(r.text, "policy-new", "title")
        assert 'value="威海市民政局"' in field(r.text, "policy-new", "issuer")
        # JSON, but not a rule: the parser's refusal in words, at the rule (the API's 400).
        r = await b.post("/console/admin/policies", policy_form(
            eligibility=json.dumps({"all": [{"category": "特困"}, {"category": "富豪"}]}, ensure_ascii=False)))
        assert r.status_code == 400, r.text
        rule = field(r.text, "policy-new", "eligibility")
        assert "资格规则无法解析:「all」第 2 项,类别须是居民类别之一" in rule and "富豪" in rule
        r = await b.post("/console/admin/policies",
                         policy_form(eligibility=json.dumps({"dimension": "incom", "min": 60})))
        assert r.status_code == 400 and "现行问卷没有这个指标类别" in field(r.text, "policy-new", "eligibility")
        r = await b.post("/console/admin/policies", policy_form(eligibility="[1, 2]", valid_from="明天"))
        assert r.status_code == 422, r.text
        assert "须是一个非空的条件" in field(r.text, "policy-new", "eligibility")
        assert "请填写正确的日期和时间" in field(r.text, "policy-new", "valid_from")
        assert not await Policy.exists()

        r = await b.post("/console/admin/policies", policy_form())
        policy = await Policy.get()
        r = await b.post(f"/console/admin/policies/{policy.id}", policy_form(
            benefits="改过的", eligibility=json.dumps({"level_in": ["特困难"]}, ensure_ascii=False)))
        assert r.status_code == 400 and "现行问卷没有这个困难等级" in field(r.text, "policy-edit", "eligibility")
        assert 'value="改过的"' not in r.text and "改过的" in field(r.text, "policy-edit", "benefits")
        assert (await Policy.get(id=policy.id)).version == 1
        assert (await b.get("/console/admin/policies/999999")).status_code == 404


async def test_the_points_rules_in_force_are_shown_in_words_and_a_new_version_is_published(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/points-rules")
        assert r.status_code == 200, r.text
        words = text_of(r.text)
        assert f"现行积分规则(第 {POINTS_RULES['version']} 版)" in words
        assert f"每次服务最低积分 {POINTS_RULES['min_per_service']} 积分" in words
        assert f"每日积分上限 {POINTS_RULES['daily_cap']} 积分" in words
        assert "min_per_service" not in words and "daily_cap" not in words
        assert "还没有发布过新版本" in words
        assert 'hx-confirm="确定要发布新的积分规则吗?' in r.text
        assert 'value="5"' in field(r.text, "rules", "min_per_service")

        r = await b.post("/console/admin/points-rules", {
            "min_per_service": "8", "urgent_bonus": "6", "first_service_bonus": "30", "daily_cap": "",
            "redemption_expiry_days": "21", "points_per_hour.CLEAN_HOME": "30", "points_per_hour.ESCORT_MEDICAL": ""})
        assert r.status_code == 200, r.text
        assert "已发布积分规则第 2 版" in r.text and 'class="flash ok"' in r.text
        words = text_of(r.text)
        assert "每日积分上限 不设上限" in words and "每次服务最低积分 8 积分" in words
        assert re.search(r"第 2 版 现行 .*第 1 版", words) and f"用户 {admin.id}" in words and "系统默认" in words
    rules = (await client.get("/api/v1/admin/points-rules", headers=admin.headers)).json()
    assert rules == {"version": 2, "points_per_hour": {"CLEAN_HOME": 30}, "min_per_service": 8, "urgent_bonus": 6,
                     "first_service_bonus": 30, "daily_cap": None, "redemption_expiry_days": 21}
    assert (await PointsRules.get(version=2)).created_by == admin.id


async def test_points_rules_the_schema_refuses_are_said_at_their_fields_and_nothing_is_published(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/points-rules")
        r = await b.post("/console/admin/points-rules", {
            "min_per_service": "-1", "urgent_bonus": "五", "first_service_bonus": "20", "daily_cap": "60",
            "redemption_expiry_days": "14", "points_per_hour.CLEAN_HOME": "5000"})
        assert r.status_code == 422, r.text
        assert "不能小于 0" in field(r.text, "rules", "min_per_service")
        assert 'value="-1"' in field(r.text, "rules", "min_per_service")
        urgent = field(r.text, "rules", "urgent_bonus")
        assert "请填写整数" in urgent and 'value="五"' in urgent
        assert re.search(r'value="5000"\s+aria-label="[^"]+每小时积分" aria-invalid="true"', r.text), r.text
        assert '<span class="error" id="rules-points_per_hour.CLEAN_HOME-error">不能大于 1000</span>' in r.text
    assert not await PointsRules.filter(version__gt=POINTS_RULES["version"]).exists()
    rules = (await client.get("/api/v1/admin/points-rules", headers=admin.headers)).json()
    assert rules["version"] == POINTS_RULES["version"]


async def test_the_questionnaire_in_force_is_shown_in_tables_and_a_new_version_is_published(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        r = await b.get("/console/admin/questionnaire")
        assert r.status_code == 200, r.text
        words = text_of(r.text)
        assert "现行问卷(第 1 版)" in words and "家庭结构 (权重 1.0)" in words
        assert "特别困难 60" in words and "一般 0" in words
        assert "自理能力 单选 3 完全自理:0.0;部分失能:0.6;完全失能:1.0" in words
        assert "住房安全 是否 1 是:0.0;否:1.0" in words
        assert "共同生活人数 数值(1~20) 1 ≤ 1:1.0" in words
        assert 'hx-confirm="确定要发布新版问卷吗?' in r.text
        spec = field(r.text, "questionnaire", "spec")
        assert "&#34;dimensions&#34;" in spec and "&#34;version&#34;" not in spec

        dimensions = [d for d in QUESTIONNAIRE["dimensions"] if d["id"] != "children"]
        r = await b.post("/console/admin/questionnaire", {"spec": spec_text(dimensions=dimensions)})
        assert r.status_code == 200, r.text
        assert "已发布问卷第 2 版" in r.text and "现行问卷(第 2 版)" in r.text
        assert not re.search(r"<h3[^>]*>儿童及教育", r.text) and re.search(r"<h3[^>]*>就业", r.text)
        assert re.search(r"第 2 版 现行 \S+ \S+ 用户 \d+ 5 ", text_of(r.text)), text_of(r.text)
    current = (await client.get("/api/v1/assessment/questionnaire", headers=admin.headers)).json()
    assert current["version"] == 2 and [d["id"] for d in current["dimensions"]] == [d["id"] for d in dimensions]
    assert (await QuestionnaireVersion.get(version=2)).created_by == admin.id


async def test_a_questionnaire_that_does_not_hold_is_said_where_and_why_and_nothing_is_published(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/questionnaire")
        r = await b.post("/console/admin/questionnaire", {"spec": '{"levels": [}'})
        assert r.status_code == 422 and "不是有效的 JSON" in field(r.text, "questionnaire", "spec"), r.text

        dimensions = json.loads(json.dumps(QUESTIONNAIRE["dimensions"]))
        dimensions[0]["items"][1]["weight"] = 0
        del dimensions[3]["items"][0]["options"]
        levels = [{"name": "特别困难", "min": 60}]
        typed = spec_text(dimensions=dimensions, levels=levels)
        r = await b.post("/console/admin/questionnaire", {"spec": typed})
        assert r.status_code == 422, r.text
        spec = field(r.text, "questionnaire", "spec")
        assert "问卷有 3 处需要修改" in spec and 'aria-invalid="true"' in spec
        assert "须有一个 min 不大于 0 的最低等级" in spec
        assert "指标类别「家庭结构」 · 题目「日常照料人」 · 权重(weight):须大于 0" in spec
        assert "指标类别「疾病和残疾」 · 题目「自理能力」:单选题须列出选项 options" in spec
        assert "&#34;levels&#34;: [\n    {\n      &#34;name&#34;: &#34;特别困难&#34;" in spec  # as typed
    assert not await QuestionnaireVersion.exists()
    assert (await client.get("/api/v1/assessment/questionnaire", headers=admin.headers)).json()["version"] == 1


async def test_every_care_admin_page_and_form_refuses_a_worker(api, client):
    worker = await make_worker(client, await make_station())
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/policies")
        await b.post("/console/admin/policies", policy_form())
    policy = await Policy.get()
    async with console_browser(api, worker.openid) as b:
        for path in (*PAGES, f"/console/admin/policies/{policy.id}"):
            r = await b.get(path)
            assert r.status_code == 403 and "仅供管理员" in r.text, (path, r.text)
        await b.get("/console/")
        rules = {"min_per_service": "1", "urgent_bonus": "1", "first_service_bonus": "1",
                 "redemption_expiry_days": "9"}
        for path, data in (("/console/admin/policies", policy_form(title="另一项")), ("/console/admin/points-rules", rules),
                           (f"/console/admin/policies/{policy.id}", policy_form(benefits="改过的")),
                           ("/console/admin/questionnaire", {"spec": spec_text()})):
            r = await b.post(path, data)
            assert r.status_code == 403, (path, r.text)
    assert await Policy.all().count() == 1 and (await Policy.get()).version == 1
    assert not await QuestionnaireVersion.exists()
    assert not await PointsRules.filter(version__gt=POINTS_RULES["version"]).exists()


async def test_nothing_changes_without_the_pages_csrf_token(api, client):
    admin = await make_admin(client)
    async with console_browser(api, admin.openid) as b:
        await b.get("/console/admin/policies")
        for path, data in (("/console/admin/policies", policy_form()),
                           ("/console/admin/points-rules", {"min_per_service": "1", "urgent_bonus": "1",
                                                            "first_service_bonus": "1"}),
                           ("/console/admin/questionnaire", {"spec": spec_text()})):
            r = await b.post(path, data, csrf=False)
            assert r.status_code == 403 and "请求已失效" in r.text, (path, r.text)
    assert not await Policy.exists() and not await QuestionnaireVersion.exists()
    assert not await PointsRules.filter(version__gt=POINTS_RULES["version"]).exists()
