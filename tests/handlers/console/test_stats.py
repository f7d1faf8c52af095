"""The console's statistics and ledger downloads: the figures a worker or an administrator reads are
the ones that happened, under Chinese labels, counted over whole days in Weihai; a worker sees only
their own station; a district shows its stations side by side; a ledger comes down as the API's
Excel, masked."""

import io
import json
import re
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models import Need
from server.clock import CHINA_TZ
from tests.builders import (
    make_admin, make_district, make_need, make_resident, make_station, make_volunteer, make_worker,
)
from tests.handlers.care.test_stats import deliver
from tests.handlers.console.test_console import console_client


def chart_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.DOTALL)
    assert found, "the page carries no chart data"
    return json.loads(found.group(1))


def tiles(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-name="(\w+)">([^<]*)<', page))


def table_rows(page: str, table_id: str) -> dict[str, str]:
    """A table's rows as {first cell: second cell}."""
    found = re.search(rf'<table class="list" id="{table_id}">(.*?)</table>', page, re.DOTALL)
    assert found, table_id
    return dict(re.findall(r"<tr><t[hd][^>]*>([^<]*)</t[hd]><td class=\"num\">([^<]*)</td>", found.group(1)))


def series(chart: dict, name: str) -> list:
    return next(s["data"] for s in chart["series"] if s["name"] == name)


def today() -> str:
    return datetime.now(CHINA_TZ).date().isoformat()


def at(local: str) -> datetime:
    """A moment given as Weihai's wall clock, ``2026-12-01 23:30``."""
    return datetime.fromisoformat(local).replace(tzinfo=CHINA_TZ).astimezone(timezone.utc)


async def test_a_worker_reads_the_stations_figures_under_labels(api, client):
    station, elsewhere = await make_station(), await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r1, _ = await make_resident(client, station, categories=["特困", "独居"], checked_by=worker)
    r2, _ = await make_resident(client, station, categories=["低保"], checked_by=worker)
    served = await make_need(client, r1)
    await make_need(client, r2, service_code="LIVING_MEAL")
    await deliver(client, worker, volunteer, served, 15)
    r = await client.post(f"/api/v1/needs/{served['id']}/rating", json={"score": 4, "would_use_again": True},
                          headers=r1.headers)
    assert r.status_code in (200, 201), r.text
    await make_need(client, (await make_resident(client, elsewhere))[0])  # another station's: not counted

    async with console_client(api, worker.openid) as c:
        r = await c.get("/console/stats", params={"from": today(), "to": today()})
    assert r.status_code == 200, r.text
    page = r.text
    assert tiles(page)["needs"] == "2" and tiles(page)["completed"] == "1" and tiles(page)["rating"] == "4.0"
    assert tiles(page)["volunteer_hours"] == "0.2"  # 15 minutes
    # Labels, never the codes the API carries.
    for label in ("已评价关闭", "待受理", "本人申请", "居室保洁", "助餐送餐", "卫生清洁类", "生活保障类", "特困", "独居"):
        assert label in page, label
    for code in ("CLEAN_HOME", "LIVING_MEAL", ">closed<", ">submitted<", ">self<"):
        assert code not in page, code
    charts = chart_data(page)
    weekly = charts["weekly"]
    assert len(weekly["categories"]) == 1
    assert series(weekly, "新增需求(件)") == [2] and series(weekly, "完成服务(次)") == [1]
    assert series(charts["hours"], "志愿服务时长(小时)") == [0.2]
    assert series(charts["ratings"], "评价(条)") == [0, 0, 0, 1, 0]
    households = charts["households"]
    assert dict(zip(households["categories"], series(households, "受助家庭(户)"))) == {"特困": 1, "独居": 1}
    assert "stations" not in charts and "各驿站对比" not in page  # one station: nothing to compare
    # The priority groups apart (特困 served, 低保 not yet), referrals and pairings, month by month.
    priority = table_rows(page, "priority")
    assert priority["特困"] == "1" and priority["其他困难群众"] == "0"
    assert table_rows(page, "referrals-pairings")["新建结对帮扶"] == "0"
    months = table_rows(page, "months")
    assert list(months.values()) == ["2"], months  # one month: its needs (then services, hours)
    # The page loads its charts from files of its own, not inline.
    assert '<script src="/console/static/charts.js" defer></script>' in page
    assert '<div class="chart" id="chart-weekly"' in page


async def test_a_worker_sees_no_other_stations_figures(api, client):
    station, other = await make_station(), await make_station()
    worker = await make_worker(client, station)
    async with console_client(api, worker.openid) as c:
        assert (await c.get("/console/stats")).status_code == 200  # their own, by default
        for params in ({"scope": "station", "id": other.id}, {"scope": "district", "id": other.district_id},
                       {"scope": "city"}):
            r = await c.get("/console/stats", params=params)
            assert r.status_code == 403 and "仅可查看本驿站统计" in r.text, params
        r = await c.get("/console/ledgers/needs.xlsx", params={"station_id": other.id})
        assert r.status_code == 403 and "仅可导出本驿站台账" in r.text
    resident, _ = await make_resident(client, station)
    async with console_client(api, resident.openid) as c:
        assert (await c.get("/console/stats")).status_code == 403


async def test_local_dates_are_whole_days_in_weihai(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    moments = ["2026-11-30 23:59",  # Monday, the day before
               "2026-12-01 00:30", "2026-12-01 23:30",  # Tuesday 1 December, in Weihai (16:30 and 15:30 UTC)
               "2026-12-02 00:10",  # still 1 December in UTC
               "2026-12-06 23:30",  # Sunday: the end of the week
               "2026-12-07 00:30"]  # Monday: a new week (Sunday in UTC)
    for moment in moments:
        need = await make_need(client, (await make_resident(client, station))[0])
        await Need.filter(id=need["id"]).update(created_at=at(moment))

    async with console_client(api, worker.openid) as c:
        one_day = await c.get("/console/stats", params={"from": "2026-12-01", "to": "2026-12-01"})
        weeks = await c.get("/console/stats", params={"from": "2026-12-01", "to": "2026-12-07"})
    assert one_day.status_code == 200, one_day.text
    assert tiles(one_day.text)["needs"] == "2"
    assert series(chart_data(one_day.text)["weekly"], "新增需求(件)") == [2]
    weekly = chart_data(weeks.text)["weekly"]
    assert weekly["categories"] == ["12-01~12-06", "12-07"]
    assert series(weekly, "新增需求(件)") == [4, 1]
    assert "2026-12-01 至 2026-12-06" in weeks.text  # the table beside the chart


async def test_a_period_the_api_would_refuse_is_refused_with_a_message(api, client):
    worker = await make_worker(client, await make_station())
    async with console_client(api, worker.openid) as c:
        r = await c.get("/console/stats", params={"from": "2026-12-02", "to": "2026-12-01"})
        assert r.status_code == 400 and "结束日期不能早于开始日期" in r.text
        r = await c.get("/console/stats", params={"from": "2025-01-01", "to": "2026-12-01"})
        assert r.status_code == 400 and "不能超过一年" in r.text
        r = await c.get("/console/stats", params={"from": "2026-13-01"})
        assert r.status_code == 400 and "请填写正确的日期" in r.text
        for far in ({"from": "0001-01-01", "to": "0001-01-02"}, {"from": "9999-12-30", "to": "9999-12-31"}):
            assert (await c.get("/console/stats", params=far)).status_code == 400, far
            assert (await c.get("/console/ledgers/needs.xlsx", params=far)).status_code == 400, far


async def test_an_administrator_compares_the_stations_of_a_district(api, client):
    district, other_district = await make_district(name="环翠区"), await make_district(name="文登区")
    busy = await make_station(district, name="鲸园驿站")
    quiet = await make_station(district, name="竹岛驿站")
    away = await make_station(other_district, name="龙山驿站")
    worker = await make_worker(client, busy)
    volunteer, _ = await make_volunteer(client, busy, approved_by=worker)
    resident, _ = await make_resident(client, busy)
    need = await make_need(client, resident)
    await deliver(client, worker, volunteer, need, 20)
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "would_use_again": True},
                          headers=resident.headers)
    assert r.status_code in (200, 201), r.text
    await make_need(client, (await make_resident(client, quiet))[0])
    await make_need(client, (await make_resident(client, quiet))[0], service_code="LIVING_MEAL")
    await make_need(client, (await make_resident(client, away))[0])
    admin = await make_admin(client)
    r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": "等太久"})
    assert r.status_code == 201, r.text

    day = {"from": today(), "to": today()}
    async with console_client(api, admin.openid) as c:
        r = await c.get("/console/stats", params={"scope": "district", "id": district.id, **day})
        city = await c.get("/console/stats", params=day)  # an administrator's default
        unnamed = await c.get("/console/stats", params={"scope": "district", **day})
        missing = await c.get("/console/stats", params={"scope": "station", "id": 999999, **day})
        empty = await c.get("/console/stats", params={"scope": "district", "id": (await make_district()).id, **day})
    assert empty.status_code == 200 and "该范围内还没有驿站" in empty.text and tiles(empty.text)["needs"] == "0"
    assert unnamed.status_code == 400 and "请选择要查看的区县或驿站" in unnamed.text
    assert missing.status_code == 404 and "驿站不存在" in missing.text
    assert r.status_code == 200, r.text
    page = r.text
    assert "环翠区" in page and tiles(page)["needs"] == "3"
    stations = chart_data(page)["stations"]
    assert stations["categories"] == ["鲸园驿站", "竹岛驿站"]  # ranked: services first
    assert series(stations, "新增需求(件)") == [1, 2]
    assert series(stations, "完成服务(次)") == [1, 0]
    assert series(stations, "平均评分") == [5.0, None]
    ranking = re.search(r'<table class="list" id="table-stations">.*?</table>', page, re.DOTALL).group(0)
    assert "鲸园驿站" in ranking and "竹岛驿站" in ranking and "龙山驿站" not in ranking
    assert f"scope=station&amp;id={busy.id}" in ranking  # each station opens its own view
    # Complaints station by station: only the one that has any, by name.
    watched = re.search(r'<table class="list" id="supervision-by-station">.*?</table>', page, re.DOTALL).group(0)
    assert re.findall(r"<tr><th scope=\"row\">(.*?)</th>((?:<td[^>]*>\d+</td>)+)", watched) == [
        ("鲸园驿站", '<td class="num">1</td><td class="num">1</td><td class="num">0</td><td class="num">0</td>'
                     '<td class="num">0</td><td class="num">0</td>')]
    assert tiles(page)["complaints_open"] == "1" and tiles(page)["deadline_escalations"] == "0"
    # The choices: districts and stations by name.
    assert re.search(rf'<option value="{district.id}" selected>环翠区</option>', page)
    assert f'<option value="{away.id}">龙山驿站</option>' in page
    assert city.status_code == 200 and tiles(city.text)["needs"] == "4"
    assert chart_data(city.text)["stations"]["categories"] == ["鲸园驿站", "竹岛驿站", "龙山驿站"]


async def test_a_worker_downloads_a_ledger_as_excel_with_chinese_headers(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station, name="王秀英")
    await make_need(client, resident)
    async with console_client(api, worker.openid) as c:
        page = await c.get("/console/ledgers", params={"from": today(), "to": today()})
        assert page.status_code == 200, page.text
        for name in ("需求登记台账", "积分流水台账", "服务记录台账", "志愿服务时长台账", "入户评估台账", "购买服务项目绩效台账"):
            assert name in page.text, name
        link = f'/console/ledgers/needs.xlsx?from={today()}&amp;to={today()}'
        assert link in page.text
        r = await c.get(link.replace("&amp;", "&"))
        assert (await c.get("/console/ledgers/nothing.xlsx")).status_code == 404
        refused = await c.get("/console/ledgers/needs.xlsx", params={"from": "2026-12-02", "to": "2026-12-01"})
        assert refused.status_code == 400 and "结束日期不能早于开始日期" in refused.text
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content[:4] == b"PK\x03\x04"
    sheet = load_workbook(io.BytesIO(r.content), read_only=True)["需求登记台账"]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[1][:4] == ["编号", "登记时间", "居民", "联系电话"]
    assert len(rows) == 3 and rows[2][2] != "王秀英" and rows[2][2].startswith("王")  # masked
    assert "个人信息已脱敏" in rows[0][0]


async def test_an_administrator_downloads_one_stations_ledger(api, client):
    station, other = await make_station(), await make_station()
    for s in (station, other):
        await make_need(client, (await make_resident(client, s))[0])
    admin = await make_admin(client)
    async with console_client(api, admin.openid) as c:
        page = await c.get("/console/ledgers", params={"station_id": station.id})
        assert page.status_code == 200 and f"station_id={station.id}" in page.text
        one = await c.get("/console/ledgers/needs.xlsx", params={"station_id": station.id})
        city = await c.get("/console/ledgers/needs.xlsx")
    counts = [len(list(load_workbook(io.BytesIO(r.content), read_only=True)["需求登记台账"].iter_rows())) - 2
              for r in (one, city)]
    assert counts == [1, 2]


async def test_the_default_period_is_the_last_eight_weeks(api, client):
    worker = await make_worker(client, await make_station())
    async with console_client(api, worker.openid) as c:
        r = await c.get("/console/stats")
    assert r.status_code == 200, r.text
    weekly = chart_data(r.text)["weekly"]
    assert len(weekly["categories"]) == 8
    first = datetime.now(CHINA_TZ).date()
    first -= timedelta(days=first.weekday(), weeks=7)
    assert f'name="from" value="{first.isoformat()}"' in r.text and f'name="to" value="{today()}"' in r.text
