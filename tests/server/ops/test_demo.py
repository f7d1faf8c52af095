"""Demo data: idempotent, and the stand-in logs in as the demo accounts."""

from models import District, Need, Redemption, ResidentProfile, Station, Task, User, UserRole, VolunteerProfile
from server.ops import demo
from server.points import ledger


async def test_seed_is_idempotent_and_complete(api, client):
    first = await demo.seed(cipher=api.cipher, settings=api.settings)
    second = await demo.seed(cipher=api.cipher, settings=api.settings)
    assert first == second == {"districts": 2, "stations": 3, "users": 14}
    assert await District.all().count() == 2 and await Station.all().count() == 3
    assert await VolunteerProfile.filter(status="approved").count() == 5
    assert await ResidentProfile.all().count() == 5
    categories = {c for r in await ResidentProfile.all() for c in r.categories}
    assert {"特困", "低保", "事实无人抚养", "重残"} <= categories
    workers = await UserRole.filter(role="worker").values_list("station_id", flat=True)
    assert sorted(workers) == sorted(await Station.all().values_list("id", flat=True))
    assert await UserRole.exists(role="admin", user__openid="demo-admin")

    r = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:demo-worker-1"})
    assert r.status_code == 200
    user = r.json()["user"]
    assert "worker" in user["roles"] and user["station_id"]
    token = r.json()["token"]
    listed = await client.get("/api/v1/residents", headers={"Authorization": f"Bearer {token}"})
    assert listed.json()["total"] >= 1
    assert await User.filter(openid__startswith="demo-").count() == 14

    # The workflow is alive: needs and tasks in several states, once.
    assert sorted(await Need.all().values_list("status", flat=True)) == [
        "closed", "dispatched", "dispatched", "dispatched", "rejected", "submitted"]
    assert sorted(await Task.filter(pairing_id=None).values_list("status", flat=True)) == ["claimed", "confirmed", "open"]
    # The paired lunch delivery (Mon/Wed/Fri): the next week's 3 or 4 occurrences, all the volunteer's.
    from models import Pairing

    pairing = await Pairing.get(status="active")
    paired = await Task.filter(pairing_id=pairing.id).values_list("status", flat=True)
    assert 3 <= len(paired) <= 4 and set(paired) == {"claimed"}
    volunteer = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:demo-volunteer-1"})
    open_tasks = await client.get("/api/v1/tasks/open", headers={"Authorization": f"Bearer {volunteer.json()['token']}"})
    assert len(open_tasks.json()["items"]) == 1

    # Rewards with stock, and points history for the demo volunteers.
    headers = {"Authorization": f"Bearer {volunteer.json()['token']}"}
    assert len((await client.get("/api/v1/rewards", headers=headers)).json()) == 3
    me = (await client.get("/api/v1/points/me", headers=headers)).json()
    assert me["balance"] == 10
    assert await Redemption.all().count() == 1 and await ledger.reconcile() == []
