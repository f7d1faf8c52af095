"""Policies and charity projects (任务三) and who appears to qualify for them.

Eligibility is data, parsed and refused at save when it does not parse:
``{"all": [cond, ...]}`` or ``{"any": [cond, ...]}``, conditions nesting up to MAX_GROUPS deep, where a condition is
``{"category": "低保"}``, ``{"categories_any": ["特困", "低保"]}``, ``{"level_in": ["特别困难"]}``,
``{"dimension": "income", "min": 60}`` (latest assessment's score) or
``{"answer": "self_care", "in": ["partial", "none"]}`` (for a multiple-choice item: any choice made). A match lists the conditions that held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.data import HOUSEHOLD_CATEGORIES
from models import Assessment, Policy, PolicyReferral, PolicyRevision, ResidentProfile
from server.care import assessments
from server.errors import NotFound, ValidationFailed

FIELDS = ("title", "issuer", "kind", "summary", "benefits", "eligibility", "valid_from", "valid_until", "contact",
          "source_url", "status")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# Nested all/any groups a rule may hold. Each group is two JSON levels (object and list), and
# MariaDB refuses a JSON column value deeper than 32 levels (the column's JSON_VALID check).
MAX_GROUPS = 10


def known_names(spec: dict[str, Any]) -> dict[str, set[str]]:
    """The dimensions, items and levels of a questionnaire, which a rule may name."""
    return {"dimension": {d["id"] for d in spec["dimensions"]},
            "answer": {i["id"] for d in spec["dimensions"] for i in d["items"]},
            "level": {lv["name"] for lv in spec.get("levels", [])}}


def parse_rule(rule: Any, path: str = "eligibility", groups: int = 0, known: dict[str, set[str]] | None = None) -> None:
    """Raise ValidationFailed naming the first part of ``rule`` that is not a known condition
    (with ``known``, also a dimension, item or level the questionnaire does not have: a rule
    naming one would silently match nobody)."""
    def bad(why: str) -> ValidationFailed:
        return ValidationFailed("资格规则无法解析", details=[{"field": path, "type": why}])

    def unknown(kind: str, *names: Any) -> bool:
        return known is not None and not set(names) <= known[kind]

    if not isinstance(rule, dict) or len(rule) == 0:
        raise bad("not_an_object")
    if groups > MAX_GROUPS:
        raise bad("too_deep")
    if set(rule) <= {"all"} or set(rule) <= {"any"}:
        key = next(iter(rule))
        if not isinstance(rule[key], list) or not rule[key]:
            raise bad(f"{key}_needs_a_list")
        for i, sub in enumerate(rule[key]):
            parse_rule(sub, f"{path}.{key}[{i}]", groups + 1, known)
        return
    if set(rule) == {"category"}:
        if rule["category"] not in HOUSEHOLD_CATEGORIES:
            raise bad("unknown_category")
        return
    # Lists of names are lists of strings: anything else (a nested list, an object) cannot be put
    # in a set or joined into the label, and would fail every household's eligible-policies.
    if set(rule) == {"categories_any"}:
        if not _strings(rule["categories_any"]) or not set(rule["categories_any"]) <= set(HOUSEHOLD_CATEGORIES):
            raise bad("unknown_category")
        return
    if set(rule) == {"level_in"} and _strings(rule["level_in"]):
        if unknown("level", *rule["level_in"]):
            raise bad("unknown_level")
        return
    if set(rule) in ({"dimension", "min"}, {"dimension", "max"}) and isinstance(rule["dimension"], str):
        bound = rule.get("min", rule.get("max"))
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            if unknown("dimension", rule["dimension"]):
                raise bad("unknown_dimension")
            return
    if set(rule) == {"answer", "in"} and isinstance(rule["answer"], str) and isinstance(rule["in"], list):
        if unknown("answer", rule["answer"]):
            raise bad("unknown_item")
        return
    raise bad("unknown_condition")


def _holds(rule: dict[str, Any], *, categories: set[str], latest: Assessment | None, fired: list[str]) -> bool:
    if "all" in rule:
        return all(_holds(r, categories=categories, latest=latest, fired=fired) for r in rule["all"])
    if "any" in rule:
        # Evaluate all branches so every condition that held is reported.
        results = [_holds(r, categories=categories, latest=latest, fired=fired) for r in rule["any"]]
        return any(results)
    ok = False
    if "category" in rule:
        ok = rule["category"] in categories
        label = f"类别:{rule['category']}"
    elif "categories_any" in rule:
        ok = bool(categories & set(rule["categories_any"]))
        label = f"类别之一:{'、'.join(rule['categories_any'])}"
    elif "level_in" in rule:
        ok = latest is not None and latest.level in rule["level_in"]
        label = f"困难等级:{'/'.join(rule['level_in'])}"
    elif "dimension" in rule:
        value = latest.scores.get(rule["dimension"]) if latest else None
        if "min" in rule:
            ok = value is not None and value >= rule["min"]
            label = f"{rule['dimension']} ≥ {rule['min']}"
        else:
            ok = value is not None and value <= rule["max"]
            label = f"{rule['dimension']} ≤ {rule['max']}"
    else:
        answer = latest.answers.get(rule["answer"]) if latest else None
        # A multiple-choice item's answer is the list of choices made: any of them in ``in`` holds.
        ok = any(a in rule["in"] for a in answer) if isinstance(answer, list) else (
            latest is not None and answer in rule["in"])
        label = f"{rule['answer']} ∈ {rule['in']}"
    if ok:
        fired.append(label)
    return ok


def in_force(policy: Policy, now: datetime) -> bool:
    """Whether ``policy`` applies at ``now``: begun, and not yet over."""
    return not ((policy.valid_from and policy.valid_from > now) or (policy.valid_until and policy.valid_until <= now))


async def listed(*, now: datetime, everything: bool) -> list[Policy]:
    """The active policies: those in force at ``now``, or with ``everything`` (the administrators
    who keep the catalogue) also those not yet begun or already over. A household or a worker shown
    a policy that has ended would apply for help that no longer exists."""
    found = await Policy.filter(status="active").order_by("id")
    return found if everything else [p for p in found if in_force(p, now)]


async def eligible(*, resident: ResidentProfile, now: datetime) -> list[dict[str, Any]]:
    """Active, current policies the household appears to qualify for, with the conditions that held."""
    latest = await Assessment.filter(resident_id=resident.id).order_by("-visited_at", "-id").first()
    categories = set(resident.categories or [])
    out = []
    for policy in await Policy.filter(status="active").order_by("id"):
        if not in_force(policy, now):
            continue
        fired: list[str] = []
        if _holds(policy.eligibility, categories=categories, latest=latest, fired=fired):
            out.append({**present(policy), "matched": fired})
    return out


async def save(*, policy_id: int | None, data: dict[str, Any], actor_id: int) -> Policy:
    """Create or edit a policy; each save is a new version, kept as a revision."""
    parse_rule(data.get("eligibility"), known=known_names(await assessments.current()))
    if policy_id is None:
        policy = await Policy.create(**{k: data[k] for k in FIELDS if k in data})
    else:
        policy = await Policy.select_for_update().get_or_none(id=policy_id)
        if policy is None:
            raise NotFound("政策不存在")
        policy.update_from_dict({k: data[k] for k in FIELDS if k in data})
        policy.version += 1
        await policy.save()
    await PolicyRevision.create(policy_id=policy.id, version=policy.version, snapshot=_jsonable(present(policy)),
                                edited_by=actor_id)
    return policy


async def refer(*, resident: ResidentProfile, policy_id: int, outcome: str, note: str, worker_id: int) -> PolicyReferral:
    policy = await Policy.get_or_none(id=policy_id)
    if policy is None:
        raise ValidationFailed("政策不存在", details=[{"field": "policy_id", "type": "unknown_reference"}])
    return await PolicyReferral.create(policy_id=policy.id, resident_id=resident.id, policy_version=policy.version,
                                       outcome=outcome, note=note, worker_id=worker_id)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def present(p: Policy) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "issuer": p.issuer, "kind": p.kind, "summary": p.summary,
            "benefits": p.benefits, "eligibility": p.eligibility, "valid_from": p.valid_from,
            "valid_until": p.valid_until, "contact": p.contact, "source_url": p.source_url, "version": p.version,
            "status": p.status}
