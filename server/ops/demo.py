"""Demo data for the embedded mode and manual testing. Idempotent: safe to run at every start.

Every person here is invented; ID numbers are generated with valid check digits but random
sequence numbers, phones use the 1380000xxxx range.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from datetime import datetime, time, timedelta

from config import Settings
from models import District, Need, ResidentProfile, Reward, Station, User, UserRole, VolunteerProfile
from server.actors import Actor
from server.auth import load_actor
from server.clock import CHINA_TZ, utc_now
from server.people import residents, volunteers
from server.pii import FieldCipher, make_valid_id_number
from server.points import ledger, rewards
from server.reference import catalogue
from server.workflow import claims, flows, needs, pairings, plates, records, tasks

DISTRICTS = [("371002", "环翠区"), ("371003", "文登区")]
STATIONS = [
    ("371002", "鲸园街道社会救助服务转介驿站", "鲸园街道", "环翠区鲸园街道新威路1号", 37.5128, 122.1217),
    ("371002", "竹岛街道社会救助服务转介驿站", "竹岛街道", "环翠区竹岛街道青岛中路2号", 37.4935, 122.1340),
    ("371003", "龙山街道社会救助服务转介驿站", "龙山街道", "文登区龙山街道峰山路3号", 37.1936, 122.0573),
]
RESIDENTS = [
    ("王秀英", "19400312", ["特困", "独居", "失能"], "心脏病,行动不便"),
    ("李建国", "19520708", ["低保", "重残"], "肢体二级残疾"),
    ("张桂兰", "19481120", ["低保边缘", "空巢"], None),
    ("刘小宝", "20180405", ["事实无人抚养", "低保"], None),
    ("陈志强", "19750101", ["刚性支出困难", "防返贫监测"], "尿毒症透析"),
]
VOLUNTEER_SKILLS = [
    ["CLEAN_HOME", "LIVING_SHOP"], ["HEALTH_MEDICAL_ESCORT"], ["SUPPORT_TUTOR", "SUPPORT_COMPANY"],
    ["LIVING_REPAIR"], ["LIVING_MEAL", "CLEAN_LAUNDRY"],
]


async def _user(openid: str) -> User:
    user = await User.get_or_none(openid=openid)
    if user is None:
        user = await User.create(openid=openid)
        await UserRole.create(user=user, role="resident")
    return user


async def _role(user: User, role: str, **binding: int) -> None:
    if not await UserRole.exists(user_id=user.id, role=role):
        await UserRole.create(user=user, role=role, **binding)


async def _actor(openid: str) -> Actor:
    return await load_actor(user=await User.get(openid=openid))


async def _seed_workflow(*, cipher: FieldCipher, settings: Settings) -> None:
    """Needs and tasks in several states so the demo is alive: submitted, open, claimed, closed, rejected."""
    if await Need.exists():
        return
    now = utc_now()
    worker = {i: await _actor(f"demo-worker-{i}") for i in (1, 2, 3)}
    households = {i: await _actor(f"demo-resident-{i}") for i in range(1, 6)}
    station_of = {i: (await ResidentProfile.get(user_id=households[i].id)).station_id for i in households}
    worker_of = {i: next(w for w in worker.values() if w.station_id == station_of[i]) for i in households}
    volunteer = {i: await VolunteerProfile.get(user__openid=f"demo-volunteer-{i}") for i in range(1, 6)}

    async def need(i: int, code: str, text: str, urgency: str = "normal", at: datetime = now) -> Need:
        resident = await ResidentProfile.get(user_id=households[i].id)
        return await needs.create(actor=households[i], resident=resident, on_behalf=False, data={"service_code": code, "description": text, "urgency": urgency},
                                  cipher=cipher, now=at)

    async def task(n: Need, i: int, title: str, start: timedelta | datetime, minutes: int = 90, at: datetime = now):
        await needs.accept(need=n, actor=worker_of[i], now=at) if n.status == "submitted" else None
        begins = start if isinstance(start, datetime) else at + start
        return await tasks.create(need=n, actor_id=worker_of[i].id, cipher=cipher, now=at, data={
            "title": title, "scheduled_start": begins, "scheduled_end": begins + timedelta(minutes=minutes)})

    async with in_transaction():
        # 1: open task tomorrow afternoon, clear of the paired lunch (11:00) whatever the day, so
        # that volunteer 1 (and any other) can claim it. 2: just submitted. 3: claimed by a volunteer.
        n1 = await need(1, "CLEAN_HOME", "老人独居,卧床,需要打扫房间")
        tomorrow = now.astimezone(CHINA_TZ).date() + timedelta(days=1)
        await task(n1, 1, "居室打扫", datetime.combine(tomorrow, time(14, 0), CHINA_TZ), minutes=120)
        await need(2, "LIVING_MEAL", "腿脚不便,需要午餐送餐", urgency="urgent")
        n3 = await need(3, "HEALTH_MEDICAL_ESCORT", "下周复查,需要陪同去市立医院")
        t3 = await task(n3, 3, "陪同就医", timedelta(days=2), minutes=180)
        await claims.assign(task=t3, volunteer=volunteer[2], now=now)
        # 4: served earlier (an hour of tutoring, which ended a quarter of an hour ago), confirmed
        # and rated (closed). Asked for and dispatched the hour before the visit.
        began = now - timedelta(minutes=75)
        n4 = await need(4, "SUPPORT_TUTOR", "孩子四年级,数学跟不上", at=began - timedelta(hours=1))
        t4 = await task(n4, 4, "课业辅导", began, at=began - timedelta(hours=1))
        claim = await claims.assign(task=t4, volunteer=volunteer[3], now=began - timedelta(minutes=30))
        scene = plates.scene_for(resident_id=n4.resident_id, key=cipher.derived_key("plate"))
        await records.check_in(task=t4, claim=claim, scene=scene, lat=None, lng=None, cipher=cipher, settings=settings,
                             now=began, actor_id=volunteer[3].user_id)
        await records.submit_record(task=t4, claim=claim, started_at=began, ended_at=began + timedelta(minutes=60),
                                  summary="辅导分数加减法,完成练习册两页", photos=[], settings=settings,
                                  now=began + timedelta(minutes=60), actor_id=volunteer[3].user_id,
                                  owner_user_id=volunteer[3].user_id)
        await records.confirm(task=t4, actor_id=worker_of[4].id, minutes=None, settings=settings, now=now)
        n4 = await Need.get(id=n4.id)
        await needs.rate(need=n4, actor=households[4], role="resident", score=5, comment="老师很耐心", would_use_again=True, now=now)
        # 5: outside what the station offers.
        n5 = await need(5, "LINK_LEGAL", "想咨询房屋继承问题")
        await flows.reject_need(need=n5, actor=worker_of[5], reason="已转介至区法律援助中心", now=now)
        # 1 again: 结对帮扶 — lunch delivered every Wednesday by a paired volunteer. Once a week:
        # the pairing's tasks, generated a week ahead, are claims the volunteer holds (one or two
        # at a time), and those count towards HAIBEI_CLAIM_LIMIT (3). Mon/Wed/Fri held three or
        # four, and volunteer 1 could claim nothing else.
        n6 = await need(1, "LIVING_MEAL", "独居老人,长期需要午餐送餐")
        await needs.accept(need=n6, actor=worker_of[1], now=now)
        await pairings.create(actor=worker_of[1], need=n6, now=now, data={
            "volunteer_id": volunteer[1].id, "starts_on": now.astimezone(CHINA_TZ).date(), "title": "结对送餐",
            "schedule": {"weekdays": [3], "start_time": "11:00", "minutes": 45}})
    await pairings.generate(now=now, cipher=cipher, sla_hours=settings.referral_sla_hours)


async def _seed_rewards() -> None:
    """A few donated rewards, some welcome points for the demo volunteers, one redemption waiting."""
    if await Reward.exists():
        return
    now = utc_now()
    stations = await Station.all().order_by("id")
    async with in_transaction():
        for name, donor, kind, price, stock, where in (
            ("爱心米面油礼包", "威海市某粮油公司", "enterprise", 30, 20, [stations[0].id]),
            ("社区理发券", "鲸园街道某理发店", "enterprise", 15, 50, []),
            ("超市购物卡(50元)", "某爱心人士", "individual", 100, 5, [s.id for s in stations]),
        ):
            await rewards.create(data={"name": name, "donor": donor, "donor_kind": kind, "price": price, "stock": stock,
                                       "per_person_limit": 2, "valid_from": now - timedelta(days=1),
                                       "valid_until": now + timedelta(days=90), "pickup_station_ids": where})
        for i in range(1, 6):
            user = await User.get(openid=f"demo-volunteer-{i}")
            account = await ledger.lock(user_id=user.id)
            await ledger.post(account=account, amount=10 * i, kind="bonus", key=f"demo-welcome-{i}", now=now,
                              reason="志愿者注册奖励(演示)")
        user = await User.get(openid="demo-volunteer-5")
        account = await ledger.lock(user_id=user.id)
        haircut = await Reward.get(name="社区理发券")
        await rewards.redeem(account=account, reward_id=haircut.id, now=now, expiry_days=14)


async def seed(*, cipher: FieldCipher, settings: Settings | None = None) -> dict[str, int]:
    """Create whatever part of the demo set is missing; returns counts of what exists."""
    settings = settings or Settings()
    await catalogue.sync_defaults()
    async with in_transaction():
        districts = {}
        for code, name in DISTRICTS:
            districts[code], _ = await District.get_or_create(code=code, defaults={"name": name})
        stations = []
        for code, name, town, address, lat, lng in STATIONS:
            station, _ = await Station.get_or_create(
                district=districts[code], name=name,
                defaults={"town": town, "address": address, "lat": lat, "lng": lng, "phone": "0631-5200000"},
            )
            stations.append(station)

        await _role(await _user("demo-admin"), "admin")
        # 环翠区's own administrator (stations 1 and 2).
        await _role(await _user("demo-district-1"), "district_admin", district_id=districts["371002"].id)
        for i, station in enumerate(stations, start=1):
            await _role(await _user(f"demo-worker-{i}"), "worker", station_id=station.id)

        for i, skills in enumerate(VOLUNTEER_SKILLS, start=1):
            user = await _user(f"demo-volunteer-{i}")
            station = stations[(i - 1) % len(stations)]
            if not await VolunteerProfile.exists(user_id=user.id):
                profile = await volunteers.upsert_own(
                    user=user, cipher=cipher,
                    data={"name": f"志愿者{i}号", "phone": f"138000010{i:02d}", "skills": skills, "station_id": station.id},
                )
                await volunteers.approve(volunteer=profile, reviewer_id=(await _user(f"demo-worker-{(i - 1) % 3 + 1}")).id,
                                         now=utc_now())

        for i, (name, birth, categories, notes) in enumerate(RESIDENTS, start=1):
            user = await _user(f"demo-resident-{i}")
            if await ResidentProfile.exists(user_id=user.id):
                continue
            station = stations[(i - 1) % len(stations)]
            data = {
                "name": name, "id_number": make_valid_id_number(region="371002", birth=birth, seq=f"{100 + i:03d}"),
                "phone": f"138000020{i:02d}", "community": f"{station.town}示范社区",
                "address": f"{station.town}示范社区{i}号楼{i}单元{100 + i}室",
                "lat": station.lat + 0.001 * i, "lng": station.lng + 0.001 * i,
                "station_id": station.id, "categories": categories, "health_notes": notes,
            }
            if birth >= "2012":
                data.update(guardian_name="刘建华", guardian_phone="13800003001", guardian_relation="祖父",
                            guardian_consent=True)
            resident = await residents.upsert_own(user=user, data=data, cipher=cipher, now=utc_now())
            # The station's worker has checked what the household declared (the demo's records).
            await residents.check_categories(worker_id=(await _user(f"demo-worker-{(i - 1) % 3 + 1}")).id,
                                             resident=resident, categories=categories)
    await _seed_workflow(cipher=cipher, settings=settings)
    await _seed_rewards()
    return {
        "districts": await District.all().count(),
        "stations": await Station.all().count(),
        "users": await User.all().count(),
    }
