"""Console pages for administrators: the policy and project catalogue (任务三), the points rules in
force and the questionnaire of the home visits, each with the form that changes it.

The forms are the API's: ``PolicyIn``, ``PointsRulesIn`` and ``QuestionnaireIn`` read them, and the
services the API's admin routes call act on them (server/care/policies.py ``save``,
server/points/ledger.py ``publish_rules``, server/care/assessments.py ``publish``), one transaction
per request. The parts that are JSON (a policy's eligibility rule, the questionnaire) are edited as
JSON text: a text that is not JSON, or that the schema or the rule's parser refuses, comes back with
a Chinese message beside it saying where and why, and what was typed. Publishing asks first.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, get_args

from pydantic import ValidationError
from sanic import Blueprint, Request
from sanic_ext import openapi

from config.data import HOUSEHOLD_CATEGORIES
from handlers.care.schemas import PolicyIn, QuestionnaireIn
from handlers.console.common import (
    Form, FormInvalid, Refused, all_but, any_refusal, attempt, console, field_message, form_values, local,
    local_input, only, page_or_part, read_form, render,
)
from handlers.points.schemas import PointsRulesIn
from server import labels
from server.care import assessments, policies
from server.errors import DomainError, NotFound, ValidationFailed
from server.points import ledger
from server.reference import catalogue
from server.transactions import atomic

bp = Blueprint("console_admin_care", url_prefix="/console")

POLICY_KINDS: tuple[str, ...] = get_args(PolicyIn.model_fields["kind"].annotation)
POLICY_STATUSES: tuple[str, ...] = get_args(PolicyIn.model_fields["status"].annotation)
POLICY_FIELDS = ("title", "issuer", "kind", "summary", "benefits", "eligibility", "valid_from", "valid_until",
                 "contact", "source_url", "status")
# What a new policy's rule starts as: the simplest condition, to be changed.
EXAMPLE_RULE = {"any": [{"category": "特困"}, {"category": "低保"}]}


def json_text(value: Any) -> str:
    """JSON as a person edits it: indented, Chinese as written."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def json_error(exc: json.JSONDecodeError) -> str:
    return f"不是有效的 JSON(第 {exc.lineno} 行第 {exc.colno} 列附近),请检查括号、引号和逗号"


# --- eligibility rules in words ---------------------------------------------------------------


def rule_words(rule: Any, spec: dict[str, Any]) -> str:
    """A policy's eligibility rule as a person reads it, with the questionnaire's names for the
    dimensions, items, choices and levels it names (their ids where the questionnaire lacks them)."""
    dimensions = {d["id"]: d["name"] for d in spec["dimensions"]}
    items = {i["id"]: i for d in spec["dimensions"] for i in d["items"]}

    def words(r: Any) -> str:
        if not isinstance(r, dict):
            return "(无法解析)"
        for key, joiner in (("all", "同时满足"), ("any", "满足其一")):
            if key in r and isinstance(r[key], list):
                return f"{joiner}:(" + ";".join(words(sub) for sub in r[key]) + ")"
        if "category" in r:
            return f"属于「{r['category']}」"
        if "categories_any" in r:
            return "属于「" + "」「".join(map(str, r["categories_any"])) + "」之一"
        if "level_in" in r:
            return "困难等级为" + "、".join(map(str, r["level_in"]))
        if "dimension" in r:
            name = dimensions.get(r["dimension"], r["dimension"])
            return f"{name}得分 ≥ {r['min']}" if "min" in r else f"{name}得分 ≤ {r.get('max')}"
        if "answer" in r:
            item = items.get(r["answer"], {})
            choices = {o["value"]: o["label"] for o in item.get("options") or []}
            if item.get("type") == "bool":
                choices = {True: "是", False: "否"}
            said = "、".join(str(choices.get(v, v)) for v in r.get("in", []))
            return f"「{item.get('label', r['answer'])}」为{said}"
        return "(无法解析)"

    return words(rule)


# Why the rule's parser refused a rule (server.care.policies.parse_rule's detail types).
RULE_REFUSALS = {
    "not_an_object": "须是一个非空的条件,如 {\"category\": \"低保\"}",
    "too_deep": f"“all”“any”嵌套过深(最多 {policies.MAX_GROUPS} 层)",
    "all_needs_a_list": "“all”后须是一个非空的条件列表",
    "any_needs_a_list": "“any”后须是一个非空的条件列表",
    "unknown_category": "类别须是居民类别之一:" + "、".join(HOUSEHOLD_CATEGORIES),
    "unknown_level": "现行问卷没有这个困难等级",
    "unknown_dimension": "现行问卷没有这个指标类别",
    "unknown_item": "现行问卷没有这道题目",
    "unknown_condition": "不是可识别的条件(category、categories_any、level_in、dimension 加 min 或 max、answer 加 in)",
}


def rule_place(path: str) -> str:
    """``eligibility.all[0].any[1]`` as a person finds it in the text: 「all」第 1 项 → 「any」第 2 项."""
    steps = [f"「{key}」第 {int(n) + 1} 项" for key, n in re.findall(r"\.(all|any)\[(\d+)\]", path)]
    return " → ".join(steps)


def rule_refusal(exc: ValidationFailed) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    detail = next((d for d in details if isinstance(d, dict) and d.get("field")), None)
    if detail is None:
        return exc.message
    place = rule_place(str(detail["field"]))
    why = RULE_REFUSALS.get(str(detail.get("type")), "")
    return f"{exc.message}:" + (f"{place}," if place else "") + (why or "请检查")


# --- policies ---------------------------------------------------------------------------------


def last_day(until: datetime | None) -> str:
    """The last local day a policy is in force: it ends at ``until``, exclusive."""
    return local(until - timedelta(microseconds=1), "%Y-%m-%d") if until else ""


def policy_row(policy, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**policies.present(policy), "in_force": policies.in_force(policy, now),
            "from_day": local(policy.valid_from, "%Y-%m-%d") if policy.valid_from else "",
            "until_day": last_day(policy.valid_until), "rule_words": rule_words(policy.eligibility, spec)}


def policy_values(policy) -> dict[str, Any]:
    """A saved policy as its form shows it."""
    data = policies.present(policy)
    values = {k: data[k] for k in POLICY_FIELDS if data.get(k) is not None}
    values["eligibility"] = json_text(data["eligibility"])
    for key in ("valid_from", "valid_until"):
        if data[key]:
            values[key] = local_input(data[key])
    return values


def read_policy(values: dict[str, Any]) -> PolicyIn:
    """The policy form by the API's schema, its eligibility parsed from the JSON text first."""
    data = dict(values)
    errors: dict[str, str] = {}
    if isinstance(values.get("eligibility"), str):
        try:
            data["eligibility"] = json.loads(values["eligibility"])
        except json.JSONDecodeError as exc:
            errors["eligibility"] = json_error(exc)
    try:
        out = read_form(PolicyIn, data, local_times=("valid_from", "valid_until"))
    except FormInvalid as exc:
        if "eligibility" in exc.errors and "eligibility" not in errors:
            errors["eligibility"] = RULE_REFUSALS["not_an_object"]  # JSON, but not an object
        errors = {**exc.errors, **errors}
        raise FormInvalid(errors, values) from None
    if errors:
        raise FormInvalid(errors, values)
    return out


def policy_errors(exc: DomainError) -> dict[str, str]:
    if isinstance(exc, ValidationFailed) and any(
            isinstance(d, dict) and str(d.get("field", "")).startswith("eligibility") for d in exc.details or []):
        return {"eligibility": rule_refusal(exc)}
    return {"": exc.message}


def kind_options() -> list[tuple[str, str]]:
    return [(k, labels.label("policy_kind", k)) for k in POLICY_KINDS]


def status_options() -> list[tuple[str, str]]:
    return [(s, labels.label("policy_status", s)) for s in POLICY_STATUSES]


async def policies_context(request: Request, *, new_form: Form | None = None, flash: str | None = None,
                           level: str = "ok") -> dict[str, Any]:
    now = request.app.ctx.clock()
    spec = await assessments.current()
    found = await policies.listed(now=now, everything=True)
    return {"title": "政策与项目", "policies": [policy_row(p, spec, now) for p in found],
            "kinds": kind_options(), "statuses": status_options(),
            "new_form": new_form or Form({"kind": POLICY_KINDS[0], "status": "active",
                                          "eligibility": json_text(EXAMPLE_RULE)}),
            "flash": flash, "level": level}


async def policy_context(request: Request, *, policy, form: Form | None = None,
                         flash: str | None = None) -> dict[str, Any]:
    now = request.app.ctx.clock()
    return {"title": f"编辑政策 · {policy.title}", "policy": policy_row(policy, await assessments.current(), now),
            "form": form or Form(policy_values(policy)), "kinds": kind_options(), "statuses": status_options(),
            "flash": flash}


async def listed_policy(request: Request, policy_id: int):
    """The policy the administrators' list shows under ``policy_id`` (a retired one is not listed)."""
    for policy in await policies.listed(now=request.app.ctx.clock(), everything=True):
        if policy.id == policy_id:
            return policy
    raise NotFound("政策不存在或已停用")


@bp.get("/admin/policies")
@openapi.exclude()
@console("admin")
async def policy_list(request: Request, actor):
    return render(request, "admin_policies.html", **await policies_context(request))


@bp.post("/admin/policies")
@openapi.exclude()
@console("admin")
async def create_policy(request: Request, actor):
    policy = await attempt(form_values(request), read_policy,
                           lambda data: policies.save(policy_id=None, data=data.model_dump(), actor_id=actor.id),
                           refusal=any_refusal, messages=policy_errors)
    if isinstance(policy, Refused):
        context = await policies_context(request, new_form=policy.form)
        return page_or_part(request, "admin_policies.html", "_admin_policies.html", status=policy.status, **context)
    flash = f"已添加{labels.label('policy_kind', policy.kind)}「{policy.title}」(第 {policy.version} 版)。"
    if policy.status != "active":
        flash += "它已停用,不在列表中。"
    context = await policies_context(request, flash=flash)
    return page_or_part(request, "admin_policies.html", "_admin_policies.html", **context)


@bp.get("/admin/policies/<policy_id:int>")
@openapi.exclude()
@console("admin")
async def policy_page(request: Request, actor, policy_id: int):
    policy = await listed_policy(request, policy_id)
    return render(request, "admin_policies_edit.html", **await policy_context(request, policy=policy))


@bp.post("/admin/policies/<policy_id:int>")
@openapi.exclude()
@console("admin")
async def update_policy(request: Request, actor, policy_id: int):
    policy = await listed_policy(request, policy_id)
    saved = await attempt(form_values(request), read_policy,
                          lambda data: policies.save(policy_id=policy.id, data=data.model_dump(), actor_id=actor.id),
                          refusal=all_but(NotFound), messages=policy_errors)
    if isinstance(saved, Refused):
        context = await policy_context(request, policy=policy, form=saved.form)
        return page_or_part(request, "admin_policies_edit.html", "_admin_policies_edit.html", status=saved.status,
                            **context)
    if saved.status == "active":
        flash = f"已保存「{saved.title}」,现为第 {saved.version} 版。"
    else:
        flash = f"已停用「{saved.title}」(第 {saved.version} 版),居民和工作人员不再看到它。"
    context = await policy_context(request, policy=saved, flash=flash)
    return page_or_part(request, "admin_policies_edit.html", "_admin_policies_edit.html", **context)


# --- points rules -----------------------------------------------------------------------------


# The rules' whole-number keys, in the order the page shows them; points per hour is per service.
RULE_NUMBERS = ("min_per_service", "urgent_bonus", "first_service_bonus", "daily_cap", "redemption_expiry_days")
PER_HOUR = "points_per_hour."


def rule_values(rules: dict[str, Any]) -> dict[str, Any]:
    values = {k: str(rules[k]) for k in RULE_NUMBERS if rules.get(k) is not None}
    for code, points in (rules.get("points_per_hour") or {}).items():
        values[PER_HOUR + code] = str(points)
    return values


def read_rules(values: dict[str, Any]) -> PointsRulesIn:
    """The rules form by the API's schema: a field per whole number (an empty cap is no cap), and a
    field per service whose points per hour the rules set (empty: the catalogue's)."""
    data: dict[str, Any] = {k: values[k] for k in RULE_NUMBERS if k in values}
    data["points_per_hour"] = {k[len(PER_HOUR):]: v for k, v in values.items() if k.startswith(PER_HOUR)}
    try:
        return PointsRulesIn.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_url=False, include_input=False):
            loc = error["loc"]
            name = f"{PER_HOUR}{loc[1]}" if loc and loc[0] == "points_per_hour" and len(loc) > 1 else (
                str(loc[0]) if loc else "")
            errors.setdefault(name, field_message(error))
        raise FormInvalid(errors, values) from None


async def rules_context(request: Request, *, form: Form | None = None, flash: str | None = None) -> dict[str, Any]:
    rules = await ledger.current_rules()
    services = await catalogue.list_services()
    per_hour = rules.get("points_per_hour") or {}
    known = {s.code for s in services}
    rows = [{"code": s.code, "name": s.name, "category": s.category.name, "catalogue": s.points_per_hour,
             "rule": per_hour.get(s.code)} for s in services]
    # A rule for a service no longer in the catalogue still holds: kept on the page and in the form.
    rows += [{"code": code, "name": code, "category": "", "catalogue": None, "rule": points}
             for code, points in per_hour.items() if code not in known]
    return {"title": "积分规则", "rules": rules, "rows": rows, "overridden": [r for r in rows if r["rule"] is not None],
            "numbers": [(k, labels.label("points_rule", k), rules.get(k)) for k in RULE_NUMBERS],
            "history": await ledger.rules_versions(), "form": form or Form(rule_values(rules)), "flash": flash}


@bp.get("/admin/points-rules")
@openapi.exclude()
@console("admin")
async def points_rules(request: Request, actor):
    return render(request, "admin_points.html", **await rules_context(request))


@bp.post("/admin/points-rules")
@openapi.exclude()
@console("admin")
async def publish_rules(request: Request, actor):
    values = form_values(request)
    try:
        data = read_rules(values)
    except FormInvalid as exc:
        context = await rules_context(request, form=Form(exc.values, exc.errors))
        return page_or_part(request, "admin_points.html", "_admin_points.html", status=422, **context)
    # As the API's PUT: the shipped version stored outside the publishing transaction (see there).
    await ledger.store_shipped_rules()
    async with atomic():
        row = await ledger.publish_rules(rules=data.model_dump(), actor_id=actor.id)
    flash = f"已发布积分规则第 {row.version} 版。此后确认的服务按新规则计分,已发放的积分不变。"
    context = await rules_context(request, flash=flash)
    return page_or_part(request, "admin_points.html", "_admin_points.html", **context)


# --- the questionnaire ------------------------------------------------------------------------


# The questionnaire's parts and keys, as a person finds them in its JSON text.
PARTS = {"levels": "等级", "dimensions": "指标类别", "items": "题目", "options": "选项", "brackets": "分段"}
KEYS = {"id": "编号", "name": "名称", "label": "名称", "weight": "权重", "type": "题型", "value": "选项值",
        "score": "得分", "min": "最小值", "max": "最大值", "yes": "“是”的得分", "no": "“否”的得分",
        "source": "来源说明", **PARTS}
# Errors of a JSON text that a form field never has, in words.
JSON_MESSAGES = {
    "missing": "缺少此项", "extra_forbidden": "不认识此项,请删去", "dict_type": "须是一个对象 {…}",
    "model_type": "须是一个对象 {…}", "model_attributes_type": "须是一个对象 {…}", "list_type": "须是一个列表 […]",
    "string_type": "须是文字(加英文引号)", "float_type": "须是数字", "int_type": "须是整数",
    "finite_number": "须是有限的数字",
}
# What an item of each type must carry (QuestionnaireItem's own check says it in English).
ITEM_NEEDS = {"single": "单选题须列出选项 options", "multi": "多选题须列出选项 options",
              "number": "数值题须列出分段 brackets", "bool": "是否题须给出“是”和“否”的得分 yes、no"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def questionnaire_problem(error: dict[str, Any], spec: Any) -> str:
    """One of the schema's errors as a person reads it: where (the parts by their names) and why."""
    where: list[str] = []
    node: Any = spec
    loc = list(error["loc"])
    for i, step in enumerate(loc):
        if isinstance(step, int) and i > 0 and loc[i - 1] in PARTS:
            node = node[step] if isinstance(node, list) and step < len(node) else None
            name = node.get("name") or node.get("label") if isinstance(node, dict) else None
            part = PARTS[str(loc[i - 1])]
            where[-1:] = [f"{part}「{name}」" if isinstance(name, str) and name else f"第 {step + 1} 个{part}"]
        else:
            node = node.get(step) if isinstance(node, dict) else None
            where.append(f"{KEYS.get(str(step), str(step))}({step})")
    kind = error["type"]
    if kind == "value_error":
        said = str((error.get("ctx") or {}).get("error", ""))
        if _CJK.search(said):
            why = said
        elif isinstance(node, dict) and node.get("type") in ITEM_NEEDS:
            why = ITEM_NEEDS[node["type"]]
        else:
            why = "填写有误"
    else:
        why = JSON_MESSAGES.get(kind) or field_message(error)
    return (" · ".join(where) + ":" if where else "") + why


def read_questionnaire(values: dict[str, Any]) -> QuestionnaireIn:
    """The questionnaire's JSON text by the API's schema; each problem said where it is."""
    text = values.get("spec", "")
    if not text:
        raise FormInvalid({"spec": "请填写问卷"}, values)
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormInvalid({"spec": json_error(exc)}, values) from None
    try:
        return QuestionnaireIn.model_validate(spec)
    except ValidationError as exc:
        problems = [questionnaire_problem(e, spec) for e in exc.errors(include_url=False, include_input=False)]
        shown = problems[:10] + ([f"……另有 {len(problems) - 10} 处"] if len(problems) > 10 else [])
        raise FormInvalid({"spec": f"问卷有 {len(problems)} 处需要修改:" + ";".join(shown)}, values) from None


def spec_values(spec: dict[str, Any]) -> dict[str, Any]:
    """The questionnaire as its form shows it: its JSON without the version, which publishing sets."""
    return {"spec": json_text({k: v for k, v in spec.items() if k != "version"})}


def item_scoring(item: dict[str, Any]) -> list[str]:
    """How an item's answers score, one line each."""
    if item.get("options"):
        return [f"{o['label']}:{o['score']}" for o in item["options"]]
    if item.get("brackets"):
        return [f"≤ {b['max']}:{b['score']}" for b in item["brackets"]]
    if item.get("type") == "bool":
        return [f"是:{item.get('yes')}", f"否:{item.get('no')}"]
    return []


async def questionnaire_context(request: Request, *, form: Form | None = None,
                                flash: str | None = None) -> dict[str, Any]:
    spec = await assessments.current()
    levels = sorted(spec.get("levels", []), key=lambda lv: lv["min"], reverse=True)
    return {"title": "入户调查问卷", "spec": spec, "levels": levels, "item_scoring": item_scoring,
            "history": await assessments.versions(), "form": form or Form(spec_values(spec)), "flash": flash}


@bp.get("/admin/questionnaire")
@openapi.exclude()
@console("admin")
async def questionnaire(request: Request, actor):
    return render(request, "admin_questionnaire.html", **await questionnaire_context(request))


@bp.post("/admin/questionnaire")
@openapi.exclude()
@console("admin")
async def publish_questionnaire(request: Request, actor):
    values = {k: v for k, v in form_values(request).items() if k == "spec"}
    row = await attempt(values, read_questionnaire,
                        lambda data: assessments.publish(spec=data.model_dump(exclude_none=True), actor_id=actor.id),
                        refusal=only())
    if isinstance(row, Refused):
        context = await questionnaire_context(request, form=row.form)
        return page_or_part(request, "admin_questionnaire.html", "_admin_questionnaire.html", status=row.status,
                            **context)
    flash = f"已发布问卷第 {row.version} 版。此后的入户调查按新问卷填写和计分,以往的调查保留原版本。"
    context = await questionnaire_context(request, flash=flash)
    return page_or_part(request, "admin_questionnaire.html", "_admin_questionnaire.html", **context)
