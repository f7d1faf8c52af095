"""Demo data for the embedded mode and manual testing. Idempotent: safe to run at every start.

Every person here is invented; ID numbers are generated with valid check digits but random
sequence numbers, phones use the 1380000xxxx range.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models import District, ResidentProfile, Station, User, UserRole, VolunteerProfile
from server.pii import FieldCipher, make_valid_id_number
from server.services import catalogue, residents, volunteers

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


async def seed(*, cipher: FieldCipher) -> dict[str, int]:
    """Create whatever part of the demo set is missing; returns counts of what exists."""
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
                await volunteers.approve(volunteer=profile, reviewer_id=(await _user(f"demo-worker-{(i - 1) % 3 + 1}")).id)

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
            await residents.upsert_own(user=user, data=data, cipher=cipher)
    return {
        "districts": await District.all().count(),
        "stations": await Station.all().count(),
        "users": await User.all().count(),
    }
