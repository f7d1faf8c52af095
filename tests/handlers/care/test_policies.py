"""Policies: eligibility rules parsed at save, matches naming the conditions that held, versions."""

from models import PolicyReferral, PolicyRevision
from tests.builders import iso, make_admin, make_resident, make_station, make_worker, soon
from tests.handlers.care.test_assessments import HARD, MILD, assess
from tests.handlers.test_platform import assert_error


def policy(**over):
    body = {"title": "特困人员生活照料补贴", "issuer": "威海市民政局", "kind": "government_policy",
            "benefits": "每月护理补贴", "eligibility": {"all": [{"category": "特困"}, {"answer": "self_care", "in": ["partial", "none"]}]}}
    body.update(over)
    return body


async def test_eligible_policies_name_the_matching_conditions(client):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    care = (await client.post("/api/v1/admin/policies", json=policy(), headers=admin.headers)).json()
    study = (await client.post("/api/v1/admin/policies", json=policy(
        title="困境儿童助学项目", kind="charity_project",
        eligibility={"any": [{"categories_any": ["孤儿", "事实无人抚养"]}, {"dimension": "children", "min": 80}]}),
        headers=admin.headers)).json()
    await client.post("/api/v1/admin/policies", json=policy(title="过期政策", valid_until=iso(soon(-60))), headers=admin.headers)
    _, hard_home = await make_resident(client, station, categories=["特困", "独居"], checked_by=worker)
    _, mild_home = await make_resident(client, station, categories=["低保"], checked_by=worker)
    # Before any assessment only category conditions can hold: nothing matches fully.
    assert (await client.get(f"/api/v1/residents/{hard_home['id']}/eligible-policies", headers=worker.headers)).json() == []
    await assess(client, worker, hard_home["id"], HARD)
    await assess(client, worker, mild_home["id"], MILD)
    hard = (await client.get(f"/api/v1/residents/{hard_home['id']}/eligible-policies", headers=worker.headers)).json()
    assert [(p["id"], p["matched"]) for p in hard] == [(care["id"], ["类别:特困", "self_care ∈ ['partial', 'none']"])]
    mild = (await client.get(f"/api/v1/residents/{mild_home['id']}/eligible-policies", headers=worker.headers)).json()
    assert [(p["id"], p["matched"]) for p in mild] == [(study["id"], ["children ≥ 80"])]
    r = await client.post(f"/api/v1/residents/{hard_home['id']}/policy-referrals",
                          json={"policy_id": care["id"], "outcome": "referred", "note": "已转介至镇民政办"}, headers=worker.headers)
    assert r.status_code == 201 and r.json()["policy_version"] == 1
    assert await PolicyReferral.all().count() == 1


async def test_rules_that_do_not_parse_are_refused_at_save(client):
    admin = await make_admin(client)
    for bad in ({"all": []}, {"category": "富豪"}, {"dimension": "income"}, {"whatever": 1}, {"any": [{"level_in": "x"}]}):
        r = await client.post("/api/v1/admin/policies", json=policy(eligibility=bad), headers=admin.headers)
        assert_error(r, 400, "VALIDATION_ERROR")
    assert (await client.get("/api/v1/policies", headers=admin.headers)).json() == []


async def test_each_edit_is_a_new_version(client):
    admin = await make_admin(client)
    p = (await client.post("/api/v1/admin/policies", json=policy(), headers=admin.headers)).json()
    r = await client.put(f"/api/v1/admin/policies/{p['id']}", json=policy(benefits="每月护理补贴300元"), headers=admin.headers)
    assert r.json()["version"] == 2
    revisions = await PolicyRevision.filter(policy_id=p["id"]).order_by("version")
    assert [(x.version, x.snapshot["benefits"]) for x in revisions] == [(1, "每月护理补贴"), (2, "每月护理补贴300元")]
    worker = await make_worker(client, await make_station())
    assert_error(await client.post("/api/v1/admin/policies", json=policy(), headers=worker.headers), 403, "FORBIDDEN")


async def test_rules_the_evaluator_cannot_evaluate_are_refused_at_save(client):
    """A rule saved is evaluated for every household's eligible-policies: one that parses but
    cannot be evaluated would be a 500 for the whole city, so it is a payload error at save."""
    admin = await make_admin(client)
    for bad in ({"categories_any": [["特困"]]}, {"categories_any": [{"name": "特困"}]}, {"level_in": [1]},
                {"any": [{"level_in": [["特别困难"]]}]}, {"answer": "self_care", "in": "partial"}):
        r = await client.post("/api/v1/admin/policies", json=policy(eligibility=bad), headers=admin.headers)
        assert_error(r, 400, "VALIDATION_ERROR")
    assert (await client.get("/api/v1/policies", headers=admin.headers)).json() == []


async def test_a_rule_nested_deeper_than_the_database_keeps_is_refused_at_save(client):
    """MariaDB keeps JSON at most 32 levels deep (a CHECK on the column): a deeper rule was a 500.
    Ten nested groups still save."""
    admin = await make_admin(client)

    def nested(groups):
        rule = {"categories_any": ["特困"]}
        for _ in range(groups):
            rule = {"all": [rule]}
        return rule

    r = await client.post("/api/v1/admin/policies", json=policy(eligibility=nested(10)), headers=admin.headers)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/admin/policies", json=policy(eligibility=nested(60)), headers=admin.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert len((await client.get("/api/v1/policies", headers=admin.headers)).json()) == 1


async def test_an_answer_condition_on_a_multiple_choice_item_holds_for_any_choice_made(client):
    """刚性支出 is a multiple-choice item (the household's answer is a list): a policy for
    households with medical expenses (任务一 刚性支出困难) holds when 'medical' is among them."""
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    medical = (await client.post("/api/v1/admin/policies", json=policy(
        title="医疗救助", eligibility={"answer": "rigid_expenses", "in": ["medical"]}), headers=admin.headers)).json()
    _, hard_home = await make_resident(client, station, categories=["低保"])
    _, mild_home = await make_resident(client, station, categories=["低保"])
    await assess(client, worker, hard_home["id"], HARD)  # rigid_expenses: medical, care
    await assess(client, worker, mild_home["id"], MILD)  # rigid_expenses: none
    hard = (await client.get(f"/api/v1/residents/{hard_home['id']}/eligible-policies", headers=worker.headers)).json()
    assert [(p["id"], p["matched"]) for p in hard] == [(medical["id"], ["rigid_expenses ∈ ['medical']"])]
    mild = (await client.get(f"/api/v1/residents/{mild_home['id']}/eligible-policies", headers=worker.headers)).json()
    assert mild == []


async def test_a_rule_naming_what_the_questionnaire_does_not_have_is_refused_at_save(client):
    """A mistyped dimension, item or level made a policy that matched no household, silently;
    names are checked against the questionnaire in force."""
    admin = await make_admin(client)
    for bad, why in (({"dimension": "incom", "min": 60}, "unknown_dimension"),
                     ({"any": [{"answer": "self_cares", "in": ["none"]}]}, "unknown_item"),
                     ({"level_in": ["特困难"]}, "unknown_level")):
        r = await client.post("/api/v1/admin/policies", json=policy(eligibility=bad), headers=admin.headers)
        assert assert_error(r, 400, "VALIDATION_ERROR")["details"][0]["type"] == why
    assert (await client.get("/api/v1/policies", headers=admin.headers)).json() == []
    good = {"all": [{"dimension": "income", "min": 60}, {"answer": "self_care", "in": ["none"]}, {"level_in": ["特别困难"]}]}
    assert (await client.post("/api/v1/admin/policies", json=policy(eligibility=good), headers=admin.headers)).status_code == 201


async def test_the_catalogue_shows_households_and_workers_only_policies_in_force(client):
    """An ended policy listed to a household or a worker would send them to apply for help that no
    longer exists; the administrators keeping the catalogue still see every one, to renew or edit."""
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    ids = {}
    for name, over in (("current", {}), ("over", {"valid_until": iso(soon(-60))}),
                       ("later", {"valid_from": iso(soon(24 * 60))}),
                       ("window", {"valid_from": iso(soon(-60)), "valid_until": iso(soon(60))})):
        r = await client.post("/api/v1/admin/policies", json=policy(title=name, **over), headers=admin.headers)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    for session in (resident, worker):
        r = await client.get("/api/v1/policies", headers=session.headers)
        assert r.status_code == 200 and [p["id"] for p in r.json()] == [ids["current"], ids["window"]]
    r = await client.get("/api/v1/policies", headers=admin.headers)
    assert [p["id"] for p in r.json()] == sorted(ids.values())
