"""Statistics and ledgers over periods as people write them: local dates (whole days in Weihai),
local times, timestamps whose plus sign came unencoded; a wrong date refused in Chinese; and the
API's validation details in Chinese."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

from openpyxl import load_workbook

from server.clock import CHINA_TZ
from tests.builders import make_need, make_resident, make_station, make_worker
from tests.handlers.test_platform import assert_error

CJK = re.compile(r"[\u4e00-\u9fff]")


def local_day(offset: int = 0) -> str:
    return (datetime.now(CHINA_TZ) + timedelta(days=offset)).date().isoformat()


async def test_statistics_and_ledgers_take_local_dates(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)

    async def needs_counted(query: str) -> int:
        r = await client.get(f"/api/v1/stats/overview?scope=station&{query}", headers=worker.headers)
        assert r.status_code == 200, r.text
        return r.json()["needs"]["total"]

    today, yesterday, tomorrow = local_day(), local_day(-1), local_day(1)
    assert await needs_counted(f"from={today}&to={today}") == 1  # the whole of today, in Weihai
    assert await needs_counted(f"from={yesterday}&to={yesterday}") == 0
    assert await needs_counted(f"from={tomorrow}&to={tomorrow}") == 0
    # A local time without an offset, and a timestamp whose "+" arrived as a space.
    assert await needs_counted(f"from={yesterday}T00:00&to={tomorrow}T00:00") == 1
    assert await needs_counted(f"from={yesterday}T00:00:00+08:00&to={tomorrow}T00:00:00+08:00") == 1

    r = await client.get(f"/api/v1/ledgers/needs?from={today}&to={today}", headers=worker.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert len(rows) == 3  # title, header, the need

    error = assert_error(await client.get(f"/api/v1/stats/overview?from={today}&to=2026-13-01", headers=worker.headers),
                         400, "VALIDATION_ERROR")
    assert [(d["field"], d["reason"]) for d in error["details"]] == [("to", "请填写正确的日期,如 2026-12-01")]
    error = assert_error(await client.get(f"/api/v1/ledgers/needs?from={today}&to={yesterday}", headers=worker.headers),
                         400, "VALIDATION_ERROR")
    assert CJK.search(error["details"][0]["reason"])


async def test_validation_details_speak_chinese(api, client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "urgency": "soon", "extra": 1,
                                                 "window_start": "2026-12-01T09:00"}, headers=resident.headers)
    error = assert_error(r, 400, "VALIDATION_ERROR")
    assert error["details"], error
    for detail in error["details"]:
        assert CJK.search(detail["reason"]) and not re.search(r"[A-Za-z]{3,}", detail["reason"]), detail
