"""What a person reads carries no internal code: every cell of every Excel ledger and every value
of the statistics, over the demo data and a day of work on top of it, is scanned for the codes of
every vocabulary (states, sources, kinds, service and category codes)."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from openpyxl import load_workbook

from config.data import SERVICE_CATALOGUE
from models import Complaint, ResidentProfile, UserRole
from models.workflow import CLAIM_STATES, NEED_STATES, TASK_STATES
from server import labels
from server.ops import demo, jobs
from server.reports import excel
from tests.builders import clock_moved, login
from tests.handlers.care.test_assessments import HARD, assess


def codes() -> set[str]:
    """Every internal code a person must not read: the vocabularies' keys and the catalogue's codes."""
    found: set[str] = set(NEED_STATES) | set(TASK_STATES) | set(CLAIM_STATES)
    for vocabulary in labels._BY_NAME.values():
        found |= {str(code) for code in vocabulary if isinstance(code, str)}
    for category in SERVICE_CATALOGUE["categories"]:
        found.add(category["code"])
        found |= {service["code"] for service in category["services"]}
    return {c for c in found if re.fullmatch(r"[A-Za-z_]{3,}", c)}


def leaks(text: str, known: set[str]) -> set[str]:
    return {word for word in re.findall(r"[A-Za-z_]{3,}", text) if word in known}


def walk(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string value of a JSON answer, with where it is (keys are the API's, not read)."""
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in walk(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in walk(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) else []


async def test_no_ledger_cell_and_no_statistics_value_is_a_code(api, client):
    await demo.seed(cipher=api.cipher, settings=api.settings)
    admin = await login(client, "demo-admin")
    worker = await login(client, "demo-worker-1")
    # A day of work on top: a complaint answered, one left to escalate, a household leaving, the
    # jobs run two days on (deadline reminders and escalations, a complaint escalated).
    resident = await login(client, "demo-resident-1")
    r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": "上门太晚"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/complaints/{r.json()['id']}/answer", headers=worker.headers, json={"text": "已改进"})
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": "没人回复"})
    assert r.status_code == 201, r.text
    station_id = (await UserRole.get(user_id=worker.id, role="worker")).station_id
    leaving = await ResidentProfile.filter(station_id=station_id, status="active").exclude(user_id=resident.id) \
        .order_by("-id").first()
    r = await client.post(f"/api/v1/residents/{leaving.id}/exit", json={"reason": "moved_away", "note": "随子女迁居"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    home = await ResidentProfile.get(user_id=resident.id)
    await assess(client, worker, home.id, HARD, visit_notes="独居,腿脚不便")
    with clock_moved(5 * 24 * 60, api.app):
        done = await jobs.run_all(settings=api.settings, now=api.app.ctx.clock())
    assert done["escalated_complaints"] == 1 and done["deadline_notices"] >= 1, done
    known = codes()
    assert {"submitted", "CLEAN_HOME", "LIVING", "self", "bonus", "escalated"} <= known
    now = datetime.now(timezone.utc)
    period = {"from": (now - timedelta(days=60)).isoformat(), "to": (now + timedelta(days=30)).isoformat()}
    found_rows: dict[str, int] = {}
    found: dict[str, set[str]] = {}
    for kind in excel.KINDS:
        for session, extra in ((admin, {}), (worker, {"unmasked": "true"})):
            r = await client.get(f"/api/v1/ledgers/{kind}", params={**period, **extra}, headers=session.headers)
            assert r.status_code == 200, (kind, r.text)
            rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
            assert len(rows) >= 2, kind
            found_rows[kind] = max(found_rows.get(kind, 0), len(rows) - 2)
            if kind == "assessments":
                # The assessor by role and masked phone, not an account number.
                assessor = rows[1].index("评估人")
                assert all(isinstance(row[assessor], str) and "工作人员" in row[assessor] for row in rows[2:]), rows
            if session is worker:
                assert re.search(r"驿站 \d", rows[0][0]) is None and "驿站" in rows[0][0]  # the station by name
            for row in rows:
                for cell in row:
                    if isinstance(cell, str) and (hit := leaks(cell, known)):
                        found.setdefault(f"ledger {kind}", set()).update(hit)
    for scope, session in (("city", admin), ("station", worker)):
        r = await client.get("/api/v1/stats/overview", params={"scope": scope, **period}, headers=session.headers)
        assert r.status_code == 200, r.text
        for path, value in walk(r.json()):
            if path in (".scope",):
                continue  # the request's own parameter, echoed
            if hit := leaks(value, known):
                found.setdefault(f"stats {path}", set()).update(hit)
    assert found == {}, sorted((k, sorted(v)) for k, v in found.items())
    # Every ledger had rows to scan (the project ledger: the demo has no project).
    assert {kind for kind, n in found_rows.items() if n == 0} <= {"project_kpis"}, found_rows
    assert await Complaint.filter(status="escalated").count() == 1
