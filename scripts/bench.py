#!/usr/bin/env python3
"""The load benchmark: seed MariaDB with a data set, start the API with W worker
processes against MariaDB + Redis + the WeChat stand-in, and drive each scenario with wrk from a
separate process on loopback for a bounded time. Prints a table (requests/s, p50/p90/p99, errors,
ratio to the bare endpoint of the same run) and writes JSON to var/bench/.

A benchmark, not a test: nothing here asserts; docs/performance.md holds the current figures.
Use ``scripts/bench`` (installs what it needs), e.g. ``scripts/bench --size 10k --duration 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import _boot  # noqa: F401
import warnings

warnings.filterwarnings("ignore", message=".*database exists")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
# Households, tasks, volunteers. Tasks beyond --open (default 50 000) are history: done and in the
# past, as a city's table grows, while what is open at any moment stays what volunteers can serve.
SIZES = {
    "1k": (1_000, 5_000, 500),
    "10k": (10_000, 50_000, 5_000),
    "100k": (10_000, 100_000, 5_000),
    "1m": (10_000, 1_000_000, 5_000),
}
CENTRE = (37.5131, 122.1206)  # Weihai
SCENARIOS = ("bare", "db_floor", "browse", "claim", "need", "leaderboard", "points_me",
             "console_desk", "console_search", "console_household", "console_dashboard")
# The staff console is used by a station's few workers at a time, not by a city's phones: its
# scenarios run at this many connections whatever --connections says.
CONSOLE_CONNECTIONS = 16
# Scenarios without a Lua script: one fixed URL. ``bare`` is the ceiling (no dependency asked);
# ``db_floor`` (/healthz: one ``SELECT 1`` and one Redis PING) is the least any request that reads
# the database can cost, so the ratio a database-backed route can reach is at most its ratio.
PLAIN_URLS = {"bare": "/livez", "db_floor": "/healthz"}
# Scenarios that change nothing, so a warm-up run before the measured one reads the same data
# (claim and need consume their input lines: a warm-up would leave the measured run only conflicts).
READ_ONLY = ("bare", "db_floor", "browse", "leaderboard", "points_me",
             "console_desk", "console_search", "console_household", "console_dashboard")


def say(*parts: object) -> None:
    print("bench:", *parts, flush=True)


# ---- seeding ----------------------------------------------------------------------------------


# The API processes' keys (clearly fake), which the seeding process uses too for sealed columns.
DATA_KEY = "bench:" + base64.b64encode(b"b" * 32).decode()
INDEX_KEY = base64.b64encode(b"i" * 32).decode()


async def seed(db_url: str, households: int, tasks: int, volunteers: int, jwt_secret: str, open_tasks: int) -> dict:
    """A city's worth of data through the ORM in batches; returns what the scenarios need."""
    from tortoise import connections

    from models import sealed
    from server.pii import FieldCipher

    sealed.install(FieldCipher.from_settings(data_key=DATA_KEY, index_key=INDEX_KEY))

    from models import District, Service, Task, User
    from server import db
    from server.auth import issue_token
    from server.reference import catalogue

    await db.ensure_database(db_url)
    await db.apply_migrations(db_url)
    await db.connect(db_url)
    try:
        await catalogue.sync_defaults()
        marker = f"b4-{tasks // 1000}k-{open_tasks // 1000}k"[:12]
        conn = connections.get("default")
        if await District.filter(code=marker).exists() and await Task.all().count() >= tasks:
            say(f"reusing the seeded data set ({tasks} tasks); undoing the last run's claims and needs")
            await conn.execute_script("SET FOREIGN_KEY_CHECKS=0")
            for table in ("task_claims", "workflow_events", "notifications", "outbox_messages", "content_flags"):
                await conn.execute_script(f"TRUNCATE TABLE `{table}`")
            await conn.execute_script("DELETE FROM needs WHERE id NOT IN (SELECT need_id FROM tasks)")
            await conn.execute_script("UPDATE tasks SET status='open', claimed_count=0"
                                      " WHERE status <> 'open' AND title = '基准任务'")
            await conn.execute_script("SET FOREIGN_KEY_CHECKS=1")
        else:
            tables = [list(r.values())[0] for r in await conn.execute_query_dict("SHOW TABLES")]
            await conn.execute_script("SET FOREIGN_KEY_CHECKS=0")
            for t in tables:
                if t != "tortoise_migrations":
                    await conn.execute_script(f"TRUNCATE TABLE `{t}`")
            await conn.execute_script("SET FOREIGN_KEY_CHECKS=1")
            await catalogue.sync_defaults()
            await _seed_rows(households, tasks, volunteers, marker, open_tasks)
        services = [s.code for s in await Service.filter(requires_skill=False, status="active")]
        now = datetime.now(timezone.utc)
        volunteer_users = await User.filter(openid__startswith="bench-v-").order_by("id").values("id", "token_version")
        resident_users = await User.filter(openid__startswith="bench-r-").order_by("id").values("id", "token_version")

        class U:  # issue_token wants an object with id and token_version
            def __init__(self, row):
                self.id, self.token_version = row["id"], row["token_version"]

        vtokens = [issue_token(user=U(r), secret=jwt_secret, ttl_seconds=6 * 3600) for r in volunteer_users]
        rtokens = [issue_token(user=U(r), secret=jwt_secret, ttl_seconds=6 * 3600) for r in resident_users]
        open_ids = await Task.filter(status="open", scheduled_end__gt=now).order_by("id").values_list("id", flat=True)
        return {"volunteer_tokens": vtokens, "resident_tokens": rtokens, "open_tasks": list(open_ids),
                "services": services, "tasks": await Task.all().count(), "workers": await _station_workers()}
    finally:
        await db.disconnect()


async def _station_workers() -> list[dict]:
    """One worker per station (made on first use) and a sample of each station's households: what
    the console scenarios log in as and open."""
    from models import ResidentProfile, Station, User, UserRole

    out = []
    for i, station in enumerate(await Station.filter(name__startswith="基准驿站").order_by("id")):
        user, _ = await User.get_or_create(openid=f"bench-w-{i}")
        await UserRole.get_or_create(user_id=user.id, role="worker", defaults={"station_id": station.id})
        households = await ResidentProfile.filter(station_id=station.id).order_by("id").limit(200) \
            .values_list("id", "name")
        out.append({"user_id": user.id, "token_version": user.token_version, "station_id": station.id,
                    "households": [{"id": h, "name": n} for h, n in households]})
    return out


async def open_console_sessions(redis_url: str, prefix: str, workers: list[dict]) -> list[dict]:
    """A console session per station worker, opened as the login does (server/sessions.py)."""
    from redis.asyncio import Redis

    from server import sessions

    redis = Redis.from_url(redis_url)
    try:
        out = []
        for w in workers:
            session_id, session = await sessions.open_session(redis, prefix=prefix, user_id=w["user_id"],
                                                              token_version=w["token_version"])
            # Idle for the whole run between warm-up and measurement is fine: 30 minutes.
            out.append({**w, "session": session_id, "csrf": session.csrf})
        return out
    finally:
        await redis.aclose()


async def _seed_rows(households: int, tasks: int, volunteers: int, marker: str, open_tasks: int) -> None:
    from models import (
        District, Need, PointsAccount, PointsEntry, ResidentProfile, Service, Station, Task, User, UserRole,
        VolunteerProfile,
    )

    from server import geo

    rng = random.Random(7)
    started = time.time()
    district = await District.create(code=marker, name="基准区")
    stations = [await Station.create(district_id=district.id, name=f"基准驿站{i}", town=f"镇{i}", address="路",
                                     lat=CENTRE[0] + rng.uniform(-0.15, 0.15), lng=CENTRE[1] + rng.uniform(-0.2, 0.2))
                for i in range(20)]
    services = [s.code for s in await Service.filter(requires_skill=False, status="active")]
    batch = 5000

    async def bulk(model, rows, what):
        for i in range(0, len(rows), batch):
            await model.bulk_create(rows[i:i + batch])
        say(f"seeded {len(rows)} {what} ({time.time() - started:.0f} s)")

    await bulk(User, [User(openid=f"bench-r-{i}") for i in range(households)], "household accounts")
    await bulk(User, [User(openid=f"bench-v-{i}") for i in range(volunteers)], "volunteer accounts")
    r_users = await User.filter(openid__startswith="bench-r-").order_by("id").values_list("id", flat=True)
    v_users = await User.filter(openid__startswith="bench-v-").order_by("id").values_list("id", flat=True)
    await bulk(UserRole, [UserRole(user_id=u, role="resident") for u in [*r_users, *v_users]]
               + [UserRole(user_id=u, role="volunteer") for u in v_users], "roles")
    await bulk(ResidentProfile, [
        ResidentProfile(user_id=u, station_id=stations[i % 20].id, name=f"居民{i}", community=f"社区{i % 200}",
                        categories=["低保"] if i % 3 == 0 else ["空巢独居"])
        for i, u in enumerate(r_users)], "households")
    await bulk(VolunteerProfile, [
        VolunteerProfile(user_id=u, station_id=stations[i % 20].id, name=f"志愿者{i}", skills=[], status="approved")
        for i, u in enumerate(v_users)], "volunteers")
    # Each volunteer's service awards over the last year and a bit (1 to 12 each), the account's
    # totals what its entries add up to: the boards (leaderboard) and points/me read a real ledger.
    entries: list[tuple[int, int, int, datetime]] = []  # (volunteer index, amount, minutes, at)
    now = datetime.now(timezone.utc)
    for i in range(len(v_users)):
        for _ in range(1 + i % 12):
            amount, minutes = rng.randint(10, 30), rng.choice((60, 90, 120))
            entries.append((i, amount, minutes, now - timedelta(minutes=rng.randint(5, 60 * 24 * 400))))
    totals = [[0, 0] for _ in v_users]
    for i, amount, minutes, _ in entries:
        totals[i][0] += amount
        totals[i][1] += minutes
    await bulk(PointsAccount, [PointsAccount(user_id=u, balance=totals[i][0], earned=totals[i][0],
                                             verified_minutes=totals[i][1], award_count=1 + i % 12)
                               for i, u in enumerate(v_users)], "points accounts")
    account_of = dict(await PointsAccount.all().values_list("user_id", "id"))  # only the volunteers have one yet
    running = [0] * len(v_users)
    rows = []
    for k, (i, amount, minutes, at) in enumerate(sorted(entries, key=lambda e: e[3])):
        running[i] += amount
        rows.append(PointsEntry(account_id=account_of[v_users[i]], amount=amount, kind="service_award", minutes=minutes,
                                idempotency_key=f"bench:{k}", balance_after=running[i], created_at=at))
    await bulk(PointsEntry, rows, "points entries")
    residents = await ResidentProfile.all().order_by("id").values_list("id", "station_id", "community")
    needs = []
    for k in range(tasks):
        rid, sid, _ = residents[k % len(residents)]
        needs.append(Need(resident_id=rid, station_id=sid, service_id=services[k % len(services)], description="基准需求",
                          reported_by=1, status="dispatched"))
    await bulk(Need, needs, "needs")
    need_rows = await Need.all().order_by("id").values_list("id", "resident_id", "station_id", "service_id")
    community = {r[0]: r[2] for r in residents}
    rows = []
    history = len(need_rows) - open_tasks
    for k, (nid, rid, sid, service) in enumerate(need_rows):
        lat, lng = geo.fuzz(CENTRE[0] + rng.uniform(-0.25, 0.25), CENTRE[1] + rng.uniform(-0.3, 0.3))
        if k < history:
            # Served and confirmed, every few minutes back over the years, in the same streets.
            start = now - timedelta(minutes=5 * (history - k) + 120)
            status, title = "confirmed", "基准历史任务"
        else:
            # Distinct two-hour slots, so one volunteer's claims never overlap.
            start = now + timedelta(hours=1 + 2 * (k - history))
            status, title = "open", "基准任务"
        rows.append(Task(need_id=nid, station_id=sid, service_id=service, title=title, scheduled_start=start,
                         scheduled_end=start + timedelta(minutes=90), points=10, community=community[rid],
                         approx_lat=lat, approx_lng=lng, cell=geo.cell_of(lat, lng), status=status, created_by=1))
    await bulk(Task, rows, "tasks")


# ---- the API and the load ---------------------------------------------------------------------


def start_processes(args, env: dict) -> list[subprocess.Popen]:
    standin = subprocess.Popen([sys.executable, "scripts/wechat_standin"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return [standin, start_api(args, env, code=ROOT, port=args.port, log=OUT / "api.log")]
    except SystemExit:
        stop_processes([standin])
        raise


def start_api(args, env: dict, *, code: Path, port: int, log: Path) -> subprocess.Popen:
    """The API of the checkout at ``code`` on ``port``, once it answers."""
    api = subprocess.Popen(
        [str(ROOT / ".venv/bin/sanic"), "server.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--no-motd", "--no-access-logs"],
        cwd=code, env={**env, "PYTHONPATH": str(code)}, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
        start_new_session=True)
    deadline = time.time() + 60
    import urllib.request

    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as r:
                if r.status == 200:
                    return api
        except OSError:
            time.sleep(0.3)
    stop_processes([api])
    raise SystemExit(f"the API did not start within 60 s; see {log.relative_to(ROOT)}")


def stop_processes(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


LUA_COMMON = """
local counter = 0
threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end
local lines = {}
function load_lines(path)
  for line in io.lines(path) do lines[#lines + 1] = line end
end
-- Each thread takes every step-th line from its own offset: no two requests share a line.
function init_stepped(args)
  load_lines(args[1]); i = tid; step = tonumber(args[2])
end
function next_line()
  local line = lines[(i % #lines) + 1]
  i = i + step
  return line
end
"""

CONSOLE_LUA = """
init = init_stepped
-- The server's own time on each page (its Server-Timing header), kept per thread and summed up by
-- done() as percentiles: what the page cost the server, without wrk's queueing.
durations = {}
function response(status, headers, body)
  local t = headers["Server-Timing"] or headers["server-timing"]
  if t then
    local d = t:match("dur=([%d%.]+)")
    if d then durations[#durations + 1] = tonumber(d) end
  end
end
function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, d in ipairs(thread:get("durations")) do all[#all + 1] = d end
  end
  table.sort(all)
  local function pct(q) if #all == 0 then return 0 end return all[math.max(1, math.ceil(q * #all))] end
  io.write(string.format("SERVER_TIME n=%d p50=%.2f p90=%.2f p99=%.2f\\n", #all, pct(0.5), pct(0.9), pct(0.99)))
end
function console_line()
  return next_line():match("(%S+) (%S+) (%S+) (%S+)")
end
function urlencode(text)
  return (text:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
"""

LUA = {
    "bare": None,
    "db_floor": None,
    "browse": """
function init(args)
  init_stepped(args); math.randomseed(1000 + tid)
end
function request()
  local token = next_line()
  local lat = {{LAT}} + (math.random() - 0.5) * 0.3
  local lng = {{LNG}} + (math.random() - 0.5) * 0.4
  return wrk.format("GET", string.format("/api/v1/tasks/open?lat=%.5f&lng=%.5f&radius_km=5&limit=20", lat, lng),
                    {["Authorization"] = "Bearer " .. token})
end
""",
    # Each line "task_id token": every request a different open task, spread over the volunteers.
    "claim": """
init = init_stepped
function request()
  local task, token = next_line():match("(%d+) (.+)")
  return wrk.format("POST", "/api/v1/tasks/" .. task .. "/claim", {["Authorization"] = "Bearer " .. token}, "")
end
""",
    # Each line "service token": a household asking once for a service.
    "need": """
init = init_stepped
function request()
  local service, token = next_line():match("(%S+) (.+)")
  return wrk.format("POST", "/api/v1/needs", {["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json"},
                    '{"service_code":"' .. service .. '","description":"腿脚不便,需要帮助"}')
end
""",
    "leaderboard": """
init = init_stepped
function request()
  return wrk.format("GET", "/api/v1/leaderboard?scope=city", {["Authorization"] = "Bearer " .. next_line()})
end
""",
    "points_me": """
init = init_stepped
function request()
  return wrk.format("GET", "/api/v1/points/me", {["Authorization"] = "Bearer " .. next_line()})
end
""",
    # Each line "session csrf household prefix" (write_console_inputs): a worker at their PC.
    "console_desk": CONSOLE_LUA + """
function request()
  local session = console_line()
  return wrk.format("GET", "/console/", {["Cookie"] = "haibei_console=" .. session})
end
""",
    "console_search": CONSOLE_LUA + """
function request()
  local session, csrf, household, prefix = console_line()
  return wrk.format("POST", "/console/households", {["Cookie"] = "haibei_console=" .. session,
                    ["X-CSRF-Token"] = csrf, ["HX-Request"] = "true",
                    ["Content-Type"] = "application/x-www-form-urlencoded"}, "q=" .. urlencode(prefix))
end
""",
    "console_household": CONSOLE_LUA + """
function request()
  local session, csrf, household = console_line()
  return wrk.format("GET", "/console/households/" .. household, {["Cookie"] = "haibei_console=" .. session})
end
""",
    "console_dashboard": CONSOLE_LUA + """
function request()
  local session = console_line()
  return wrk.format("GET", "/console/stats", {["Cookie"] = "haibei_console=" .. session})
end
""",
}


def write_inputs(data: dict, threads: int) -> dict[str, Path]:
    paths = {}
    rng = random.Random(11)
    v = data["volunteer_tokens"]
    paths["volunteers"] = OUT / "volunteer_tokens.txt"
    paths["volunteers"].write_text("\n".join(v) + "\n")
    tasks = data["open_tasks"]
    paths["claims"] = OUT / "claims.txt"
    paths["claims"].write_text("".join(f"{t} {v[k % len(v)]}\n" for k, t in enumerate(tasks)))
    needs = [f"{s} {tok}" for s in data["services"][:4] for tok in data["resident_tokens"]]
    rng.shuffle(needs)
    paths["needs"] = OUT / "needs.txt"
    paths["needs"].write_text("\n".join(needs) + "\n")
    return paths


def write_console_inputs(sessions: list[dict]) -> Path:
    """Lines "session csrf household name-prefix": a worker's session, one of their households, and
    the start of a name to search for (one to three characters of that household's name)."""
    rng = random.Random(13)
    lines = []
    for w in sessions:
        for h in w["households"]:
            prefix = h["name"][: rng.randint(3, len(h["name"]))]
            lines.append(f"{w['session']} {w['csrf']} {h['id']} {prefix}")
    rng.shuffle(lines)
    path = OUT / "console.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def profile_top(path: Path, n: int = 25) -> list[tuple[str, float]]:
    """Inclusive share of samples per function from py-spy's collapsed stacks (our code and libraries)."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        k = int(k)
        total += k
        for frame in set(stack.split(";")):
            counts[frame] = counts.get(frame, 0) + k
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return [(frame, round(100 * c / max(total, 1), 1)) for frame, c in ranked]


CATEGORIES = (("ORM: query building (pypika, tortoise)", ("pypika", "tortoise/")),
              ("driver: MySQL protocol (aiomysql, pymysql)", ("aiomysql/", "pymysql/")),
              ("HTTP server (sanic, uvloop, httptools)", ("sanic/", "sanic_routing", "httptools", "uvloop")),
              ("JSON, validation (pydantic, json)", ("pydantic", "json/", "ujson")),
              ("auth (jwt, hmac)", ("jwt/", "hmac", "hashlib")),
              ("Redis client", ("redis/",)),
              ("our code (server/, handlers/)", ("server/", "handlers/", "services/")),
              ("asyncio, other", ("",)))


def profile_categories(path: Path) -> list[tuple[str, float]]:
    """Self time by where the leaf frame is, for the API worker processes (the master excluded)."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        frames = stack.split(";")
        if not any("spawn_main" in f for f in frames):
            continue  # the Sanic master process
        leaf = frames[-1]
        name = next(n for n, keys in CATEGORIES if any(key in leaf for key in keys))
        counts[name] = counts.get(name, 0) + int(k)
        total += int(k)
    return [(n, round(100 * counts.get(n, 0) / max(total, 1), 1)) for n, _ in CATEGORIES]


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: its parent and its command name."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat_fields(int(entry))
                with open(f"/proc/{entry}/comm") as f:
                    out[int(entry)] = (int(fields[1]), f.read().strip())
            except OSError:
                pass
    return out


def _cpu_ticks(pids: list[int]) -> int:
    """User + system CPU of ``pids`` so far, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def _machine_ticks() -> tuple[int, int]:
    """The machine's (stolen, all) CPU ticks so far: time the hypervisor gave to others."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[7], sum(values[:8])


def cpu_probe(api_pid: int | None):
    """Call before a measured run; call what it returns after: CPU µs per request of the API
    processes and of MariaDB + Redis, and the share of the machine's time stolen meanwhile. On
    this project's VMs CPU per request moved between runs as much as throughput did, with next to
    nothing stolen (the cores themselves change speed): compare code with ``--against``."""
    procs = _processes()
    api, stack = [], [api_pid] if api_pid else []
    while stack:
        pid = stack.pop()
        api.append(pid)
        stack += [child for child, (parent, _) in procs.items() if parent == pid]
    services = [pid for pid, (_, comm) in procs.items() if comm in ("mariadbd", "mysqld", "redis-server")]
    before = _cpu_ticks(api), _cpu_ticks(services), _machine_ticks()

    def after(requests: int) -> dict:
        tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
        stolen, total = (now - then for now, then in zip(_machine_ticks(), before[2]))
        per = max(requests, 1)
        return {"api_cpu_us": round((_cpu_ticks(api) - before[0]) * tick_us / per, 1),
                "db_redis_cpu_us": round((_cpu_ticks(services) - before[1]) * tick_us / per, 1),
                "steal_pct": round(100 * stolen / total, 1) if total else 0.0}
    return after


def wrk_command(name: str, args, inputs: dict[str, Path], port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}" + PLAIN_URLS.get(name, "")
    connections = CONSOLE_CONNECTIONS if name.startswith("console_") else args.connections
    cmd = ["wrk", f"-t{args.threads}", f"-c{connections}", f"-d{args.duration}s", "--latency", "--timeout", "10s"]
    script_args: list[str] = []
    if LUA[name]:
        body = LUA[name].replace("{{LAT}}", str(CENTRE[0])).replace("{{LNG}}", str(CENTRE[1]))
        script = OUT / f"{name}.lua"
        script.write_text(LUA_COMMON + body)
        cmd += ["-s", str(script)]
        data_file = {"browse": "volunteers", "claim": "claims", "need": "needs", "leaderboard": "volunteers",
                     "points_me": "volunteers"}.get(name, "console")
        script_args = [str(inputs[data_file]), str(args.threads)]
    return cmd + ([url, "--", *script_args] if script_args else [url])


def measured(cmd: list[str], args, api_pid: int | None, *, keep: Path | None = None) -> dict:
    """One wrk run of ``cmd``: its figures, and the CPU per request (``cpu_probe``); wrk's own
    output written to ``keep`` if given."""
    probe = cpu_probe(api_pid)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
    if keep is not None:
        keep.write_text(out)
    result = parse_wrk(out)
    result.update(probe(result["requests"]))
    return result


def run_against(names: list[str], args, inputs: dict[str, Path], mine: tuple[int, int],
                theirs: tuple[int, int]) -> dict:
    """Each scenario against two APIs at once, this checkout's and ``--against``'s, in ``--pairs``
    pairs of runs, each pair one run on each, alternating which goes first. The machine changes
    speed from minute to minute (±25 % between runs of the same code here, with nothing stolen):
    what the two show within a pair was measured under the same conditions."""
    out = {}
    for name in names:
        cmds = {side: wrk_command(name, args, inputs, port) for side, (port, _) in (("this", mine), ("theirs", theirs))}
        pids = {"this": mine[1], "theirs": theirs[1]}
        if args.warmup:
            for side in ("theirs", "this"):
                say(f"scenario {name}: warming {side}")
                warm_up(cmds[side], args.warmup)
        pairs = []
        for k in range(args.pairs):
            order = ("theirs", "this") if k % 2 == 0 else ("this", "theirs")
            pair = {side: measured(cmds[side], args, pids[side]) for side in order}
            pairs.append(pair)
            say(f"  pair {k + 1}: this {pair['this']['rps']:.0f} req/s, {args.against} {pair['theirs']['rps']:.0f}")

        def median(values: list[float]) -> float:
            return round(statistics.median(values), 3)

        out[name] = {
            "this_rps": median([p["this"]["rps"] for p in pairs]),
            "theirs_rps": median([p["theirs"]["rps"] for p in pairs]),
            "rps_ratio": median([p["this"]["rps"] / max(p["theirs"]["rps"], 1e-9) for p in pairs]),
            "rps_ratios": [round(p["this"]["rps"] / max(p["theirs"]["rps"], 1e-9), 3) for p in pairs],
            "this_api_cpu_us": median([p["this"]["api_cpu_us"] for p in pairs]),
            "theirs_api_cpu_us": median([p["theirs"]["api_cpu_us"] for p in pairs]),
            "cpu_ratio": median([p["this"]["api_cpu_us"] / max(p["theirs"]["api_cpu_us"], 1e-9) for p in pairs]),
            "this_p99_ms": median([p["this"]["p99_ms"] for p in pairs]),
            "theirs_p99_ms": median([p["theirs"]["p99_ms"] for p in pairs]),
            "pairs": pairs,
        }
    return out


def against_checkout(rev: str) -> Path:
    """A detached worktree of ``rev`` under var/bench (made anew)."""
    path = OUT / "against"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True)
    made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(f"--against {rev}: {made.stderr.strip()}")
    return path


def print_against(results: dict, rev: str, pairs: int) -> None:
    print()
    print(f"{'scenario':<12} {'this req/s':>11} {rev[:12]:>12} {'this/that':>10} {'range':>13} "
          f"{'API µs':>8} {'that µs':>8} {'CPU ratio':>9}")
    for name, r in results.items():
        spread = f"{min(r['rps_ratios']):.2f}–{max(r['rps_ratios']):.2f}"
        print(f"{name:<12} {r['this_rps']:>11.1f} {r['theirs_rps']:>12.1f} {r['rps_ratio']:>10.3f} {spread:>13} "
              f"{r['this_api_cpu_us']:>8.1f} {r['theirs_api_cpu_us']:>8.1f} {r['cpu_ratio']:>9.3f}")
    print(f"(medians over {pairs} pairs of runs; this/that: this checkout's req/s over {rev}'s within each pair;"
          " CPU ratio: this checkout's API CPU per request over that one's)")


def run_wrk(name: str, args, inputs: dict[str, Path], api_pid: int | None = None) -> dict:
    cmd = wrk_command(name, args, inputs, args.port)
    if args.warmup and name in READ_ONLY:
        warm_up(cmd, args.warmup)
    spy = None
    if api_pid and name in (args.profile or "").split(","):
        spy_out = OUT / f"profile-{name}.txt"
        spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(api_pid), "--subprocesses",
                                "--format", "raw", "--duration", str(max(1, args.duration - 1)), "--rate", "200",
                                "--nonblocking", "--output", str(spy_out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    result = measured(cmd, args, api_pid, keep=OUT / f"{name}.wrk.txt")
    if spy is not None:
        spy.wait(timeout=60)
        say(f"profile of {name}: self time of the API workers by where it is spent")
        for category, share in profile_categories(spy_out):
            print(f"   {share:5.1f}%  {category}")
        (OUT / f"profile-{name}-top.txt").write_text(
            "\n".join(f"{share:5.1f}%  {frame}" for frame, share in profile_top(spy_out, 80)))
    return result


def warm_up(cmd: list[str], seconds: int, rounds: int = 6) -> None:
    """The same load, not measured, until the steady state: pools filled and the caches holding what
    this load reads. Rounds of ``seconds`` until one is within 5 % of the one before (at most
    ``rounds``): 5 000 volunteers' callers and the cells around them take each worker a few
    rounds to load, and a load measured before that measures the loading."""
    warm = [c if not c.startswith("-d") else f"-d{seconds}s" for c in cmd]
    before = 0.0
    for k in range(rounds):
        rps = parse_wrk(subprocess.run(warm, capture_output=True, text=True, timeout=seconds + 60).stdout)["rps"]
        say(f"  warm-up round {k + 1}: {rps:.0f} req/s")
        if before and abs(rps - before) <= 0.05 * before:
            return
        before = rps


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(out: str) -> dict:
    def grab(pattern: str, default: str = "0") -> str:
        m = re.search(pattern, out)
        return m.group(1) if m else default

    requests = int(grab(r"(\d+) requests in"))
    errors = int(grab(r"Non-2xx or 3xx responses: (\d+)"))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(x) for x in socket.groups()) if socket else 0
    return {
        "rps": float(grab(r"Requests/sec:\s+([\d.]+)")),
        "p50_ms": _ms(grab(r"50%\s+([\d.]+\w+)", "0ms")),
        "p90_ms": _ms(grab(r"90%\s+([\d.]+\w+)", "0ms")),
        "p99_ms": _ms(grab(r"99%\s+([\d.]+\w+)", "0ms")),
        "requests": requests,
        "errors": errors,
        # The console's scenarios: the server's own time (Server-Timing), as their Lua sums it up.
        **({"server_p50_ms": float(server.group(2)), "server_p90_ms": float(server.group(3)),
            "server_p99_ms": float(server.group(4))}
           if (server := re.search(r"SERVER_TIME n=(\d+) p50=([\d.]+) p90=([\d.]+) p99=([\d.]+)", out)) else {}),
    }


def clear_redis(url: str, prefix: str) -> None:
    """The last run's keys (rate-limit counters, leaderboards): each run starts from the database."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for k in range(0, len(keys), 1000):
            client.delete(*keys[k:k + 1000])
    finally:
        client.close()


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="10k",
                        help="households/tasks/volunteers: 1k, 10k (10 k/50 k/5 k), 100k, 1m (1 M tasks)")
    parser.add_argument("--open", default="50000",
                        help="how many tasks are open ('all' for every one); the rest are history")
    parser.add_argument("--pool", type=int, default=10, help="database connections per API worker")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=5,
                        help="seconds of each round of unmeasured load before a read-only scenario (rounds until steady)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--profile", default="", help="scenarios to profile with py-spy (comma-separated)")
    parser.add_argument("--against", metavar="REV",
                        help="also start the API of git revision REV (a worktree) on the same data and compare, "
                             "read-only scenarios only, in --pairs alternating pairs of runs")
    parser.add_argument("--pairs", type=int, default=10, help="pairs of runs with --against")
    parser.add_argument("--hold", action="store_true",
                        help="seed and start the API, then wait (Ctrl-C stops it): for wrk or a profiler by hand")
    parser.add_argument("--db-url", default=os.environ.get("HAIBEI_BENCH_DB_URL", "mysql://root:@127.0.0.1:3306/haibei_bench"))
    parser.add_argument("--redis-url", default=os.environ.get("HAIBEI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    unknown = [name for name in args.scenarios.split(",") + [p for p in args.profile.split(",") if p]
               if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.against and (changing := [n for n in args.scenarios.split(",") if n not in READ_ONLY]):
        parser.error(f"--against compares read-only scenarios only (both APIs share the data): drop {', '.join(changing)}")
    OUT.mkdir(parents=True, exist_ok=True)
    households, tasks, volunteers = SIZES[args.size]
    db_url = args.db_url if args.size == "10k" else f"{args.db_url}_{args.size}"
    jwt_secret = "bench-" + secrets.token_urlsafe(32)
    if args.open != "all" and not (args.open.isdigit() and int(args.open) > 0):
        parser.error(f"--open takes a positive number or 'all', not {args.open!r}")
    open_tasks = tasks if args.open == "all" else min(tasks, int(args.open))
    say(f"seeding {db_url.split('@')[-1]}: {households} households, {tasks} tasks ({open_tasks} open), "
        f"{volunteers} volunteers")
    data = asyncio.run(seed(db_url, households, tasks, volunteers, jwt_secret, open_tasks))
    inputs = write_inputs(data, args.threads)
    limits = OUT / "rate_limits.json"
    # Every request comes from 127.0.0.1: per-address limits would measure the limiter, not the app.
    limits.write_text(json.dumps({"limits": {k: {"user": [1000, 60]} for k in
                                             ("login", "need_submit", "claim", "upload", "redeem")}}))
    env = {**os.environ, "HAIBEI_MODE": "embedded", "HAIBEI_DB_URL": db_url, "HAIBEI_REDIS_URL": args.redis_url,
           "HAIBEI_REDIS_PREFIX": "haibei-bench:", "HAIBEI_RUN_WORKER": "off", "HAIBEI_LOG_LEVEL": "WARNING",
           "HAIBEI_JWT_SECRET": jwt_secret, "HAIBEI_DATA_KEY": DATA_KEY, "HAIBEI_INDEX_KEY": INDEX_KEY, "HAIBEI_CLAIM_LIMIT": "1000",
           "HAIBEI_STANDIN_PORT": str(args.port + 1), "HAIBEI_WECHAT_API_BASE": f"http://127.0.0.1:{args.port + 1}",
           "HAIBEI_RATE_LIMITS_FILE": str(limits), "HAIBEI_DB_POOL_SIZE": str(args.pool)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    clear_redis(args.redis_url, "haibei-bench:")
    inputs["console"] = write_console_inputs(asyncio.run(open_console_sessions(args.redis_url, "haibei-bench:",
                                                                               data["workers"])))
    procs = start_processes(args, env)
    results = {}
    if args.hold:
        say(f"API on http://127.0.0.1:{args.port} (pid {procs[1].pid}); inputs and wrk scripts in {OUT}; Ctrl-C stops")
        for name in LUA:
            if LUA[name]:
                (OUT / f"{name}.lua").write_text(LUA_COMMON + LUA[name].replace("{{LAT}}", str(CENTRE[0]))
                                                  .replace("{{LNG}}", str(CENTRE[1])))
        try:
            while True:
                time.sleep(3600)
        finally:
            stop_processes(procs)
    if args.against:
        code = against_checkout(args.against)
        say(f"API of {args.against} (worktree {code.relative_to(ROOT)}) on port {args.port + 2}")
        try:
            theirs = start_api(args, env, code=code, port=args.port + 2, log=OUT / "api-against.log")
            try:
                compared = run_against(args.scenarios.split(","), args, inputs, (args.port, procs[1].pid),
                                       (args.port + 2, theirs.pid))
            finally:
                stop_processes([theirs])
        finally:
            stop_processes(procs)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(code)], capture_output=True)
        report = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "against": args.against,
                  "size": args.size, "workers": args.workers, "connections": args.connections,
                  "duration_s": args.duration, "machine": machine(), "results": compared}
        path = OUT / f"against-{args.size}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
        path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print_against(compared, args.against, args.pairs)
        print(f"JSON: {path.relative_to(ROOT)}")
        return
    try:
        for name in args.scenarios.split(","):
            connections = CONSOLE_CONNECTIONS if name.startswith("console_") else args.connections
            say(f"scenario {name}: {connections} connections, {args.duration} s")
            results[name] = run_wrk(name, args, inputs, api_pid=procs[1].pid)
    finally:
        stop_processes(procs)
    bare = results.get("bare", {}).get("rps") or None
    for r in results.values():
        r["ratio_to_bare"] = round(r["rps"] / bare, 3) if bare else None
    report = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "size": args.size, "tasks": data["tasks"],
              "pool": args.pool,
              "open_tasks": len(data["open_tasks"]),
              "workers": args.workers, "connections": args.connections, "duration_s": args.duration,
              "machine": machine(), "results": results}
    path = OUT / f"bench-{args.size}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print()
    print(f"{'scenario':<12} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7} {'of bare':>8}"
          f" {'API µs':>8} {'DB+R µs':>8} {'steal':>6}")
    for name, r in results.items():
        ratio = f"{100 * r['ratio_to_bare']:.1f}%" if r["ratio_to_bare"] is not None else "-"
        print(f"{name:<12} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['errors']:>7} {ratio:>8} {r['api_cpu_us']:>8.1f} {r['db_redis_cpu_us']:>8.1f} {r['steal_pct']:>5.1f}%")
    print("(API µs, DB+R µs: CPU per request of the API processes, of MariaDB + Redis; steal: the share"
          " of the machine's CPU time its hypervisor gave to others meanwhile)")
    console = {name: r for name, r in results.items() if "server_p99_ms" in r}
    if console:
        print(f"\nconsole pages at {CONSOLE_CONNECTIONS} connections, server time (Server-Timing):")
        print(f"{'scenario':<18} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
        for name, r in console.items():
            print(f"{name:<18} {r['server_p50_ms']:>8.2f} {r['server_p90_ms']:>8.2f} {r['server_p99_ms']:>8.2f}")
    print(f"\n{report['machine']['cpus']} CPUs ({report['machine']['cpu']}), {args.workers} API workers × "
          f"{args.pool} database connections, {data['tasks']} tasks ({len(data['open_tasks'])} open); "
          f"JSON: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
