"""Claiming tasks (任务五: volunteers take the tasks a station dispatched), many at a time.

Who wins a slot is settled by row locks, as everywhere in the workflow (see server/workflow/events.py):
the volunteer's row, so that one volunteer's claims run one at a time and the limit and overlap
checks see every claim before it, and the task's row, so that claims for the last slot queue on
it and the second sees the first's count.

``take`` decides and writes a list of claims in one transaction and a fixed number of statements,
however long the list: lock the volunteers and the tasks, read the needs, households, services and
claims they touch, decide each claim in order in memory, then write every count, claim, timeline
row and notification in one statement per table. Each claim's outcome is the one it would have had
run alone after those before it in the list.

The API's claims go through a ``Batcher`` per process (claims under load): while one
batch's transaction runs, the claims that arrive meanwhile wait and go together in the next. One
claim at a time makes batches of one with no wait added; under load a claim shares its dozen
statements with the others of its batch instead of making fourteen of its own.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import (
    CLAIM_ACTIVE, CLAIM_ENDED, Need, ResidentProfile, Service, Station, SubscriptionQuota, Task, TaskClaim, User,
    VolunteerProfile,
)
from server import feed, sql
from server.actors import Actor
from server.batching import Batcher
from server.errors import DomainError, Forbidden, NotFound, db_errno
from server.pii import mask_name
from server.workflow import events
from server.notifications import notify
from server.workflow.tasks import (
    CLAIMANT_HOUSEHOLD_COLUMNS, LOCATION_NEED_COLUMNS, PRESENTED_CLAIM_COLUMNS, PUBLIC_COLUMNS, ClaimLimit, ClaimOverlap,
    TaskAlreadyClaimed, fit_refusal,
)

# A deadlock rolled the batch's transaction back: it is tried again. (A lock wait that timed out
# is not: it already waited its limit, and would only wait again.)
RETRY_ERRNOS = {1213}
RETRIES = 2


@dataclass(slots=True)
class Ask:
    """One claim to make: a volunteer's own (``user_id``: their approved profile is locked and every
    volunteer rule applies, ``limit`` their active-claim limit), or an assignment by a station, a
    pairing or an organisation (``volunteer``: only the slot is checked)."""

    task_id: int
    now: datetime
    user_id: int | None = None
    limit: int = 0
    volunteer: VolunteerProfile | None = None


@dataclass(slots=True)
class Won:
    """A claim made: the task as it now is, the claim, the need with its household, the task's live
    claims with their volunteers' names (this one included), the service's name, the station to
    call (tasks.present_station)."""

    task: Task
    claim: TaskClaim
    need: Need
    claims: list[tuple[TaskClaim, str]]
    service_name: str | None
    station: dict[str, Any]


@dataclass(slots=True)
class NotOpen:
    """The task is past claiming (under way, done, cancelled, expired): what the caller may learn
    of it is for the caller's access rules to say (server.access.access_task)."""

    task: Task


Outcome = Won | NotOpen | DomainError


class PastClaiming(Exception):
    """The task is past claiming. Whether the caller learns its state or that it does not exist is
    for the caller's access rules to say before raising ``refusal()``."""

    def __init__(self, task: Task) -> None:
        super().__init__(task.id)
        self.task = task

    def refusal(self) -> DomainError:
        return events.invalid_state(self.task, "领取")

# What a batch reads of each row: what deciding a claim, writing it and presenting it to the
# claimant use (the column sets of tasks.present_full and tasks.household_location), nothing more —
# every column read is parsed and converted in Python, and rows this wide made up most of a
# batch's reading. The instances are partial: an attribute not listed here is not there.
VOLUNTEER_COLUMNS = ("id", "user_id", "station_id", "name", "skills", "status")
TASK_COLUMNS = ("need_id", "station_id", "cell") + PUBLIC_COLUMNS
NEED_COLUMNS = LOCATION_NEED_COLUMNS
HOUSEHOLD_COLUMNS = CLAIMANT_HOUSEHOLD_COLUMNS
LIVE_CLAIM_COLUMNS = PRESENTED_CLAIM_COLUMNS + ("task_id", "active_key")


@functools.cache
def _task_parts() -> str:
    n, r, s, t, st = (m._meta.db_table for m in (Need, ResidentProfile, Service, Task, Station))
    return (f"SELECT t.id AS t_id, t.service_id AS t_service_id, {sql.columns(Need, 'n', 'n_', NEED_COLUMNS)}, {sql.columns(ResidentProfile, 'r', 'r_', HOUSEHOLD_COLUMNS)},"
            " s.name AS s_name, s.requires_skill AS s_requires_skill, u.openid AS u_openid, u.status AS u_status,"
            " q.remaining AS q_remaining, st.name AS st_name, st.phone AS st_phone"
            f" FROM {t} t JOIN {n} n ON n.id = t.need_id JOIN {r} r ON r.id = n.resident_id"
            f" JOIN {s} s ON s.code = t.service_id JOIN {st} st ON st.id = t.station_id"
            f" LEFT JOIN {User._meta.db_table} u ON u.id = r.user_id"
            f" LEFT JOIN {SubscriptionQuota._meta.db_table} q ON q.user_id = r.user_id AND q.template_id = %s"
            " WHERE t.id IN ({tasks})")


@functools.cache
def _claims() -> str:
    c, t, v = (m._meta.db_table for m in (TaskClaim, Task, VolunteerProfile))
    live = ", ".join(f"c.{col}" for col in LIVE_CLAIM_COLUMNS)
    active = ", ".join(f"c.{col}" if col in ("task_id", "volunteer_id") else "NULL" for col in LIVE_CLAIM_COLUMNS)
    return (f"SELECT 'live' AS kind, {live}, v.name AS volunteer_name, NULL AS scheduled_start, NULL AS scheduled_end"
            f" FROM {c} c JOIN {v} v ON v.id = c.volunteer_id"
            " WHERE c.task_id IN ({tasks}) AND c.status NOT IN ({ended})"
            f" UNION ALL SELECT 'active', {active}, NULL, t.scheduled_start, t.scheduled_end"
            f" FROM {c} c JOIN {t} t ON t.id = c.task_id"
            " WHERE c.volunteer_id IN ({volunteers}) AND c.status IN ({active})")


def _convert(model: type, row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(model._meta.fields_map[name].to_python_value(row[name]) for name in names)


async def take(asks: list[Ask]) -> list[Outcome]:
    """Decide and write ``asks`` in the caller's transaction; one outcome per ask, in order."""
    lock = sql.for_update()
    volunteers: dict[int, VolunteerProfile] = {}
    users = sorted({a.user_id for a in asks if a.user_id is not None})
    if users:
        # Locked in user_id order, as every batch does: batches queue on each other, never deadlock.
        for row in await sql.rows(
                f"SELECT {sql.columns(VolunteerProfile, 'v', only=VOLUNTEER_COLUMNS)} FROM {VolunteerProfile._meta.db_table} v"
                f" WHERE v.user_id IN ({sql.placeholders(users)}) ORDER BY v.user_id{lock}", users):
            volunteer = sql.hydrate(VolunteerProfile, row)
            if volunteer.status == "approved":
                volunteers[volunteer.user_id] = volunteer
    task_ids = sorted({a.task_id for a in asks})
    tasks = {task.id: task for task in (sql.hydrate(Task, row) for row in await sql.rows(
        f"SELECT {sql.columns(Task, 't', only=TASK_COLUMNS)} FROM {Task._meta.db_table} t"
        f" WHERE t.id IN ({sql.placeholders(task_ids)}) ORDER BY t.id{lock}", task_ids))}
    # Plain reads from here on: the snapshot starts after the locks, so it holds every claim
    # committed before them (REPEATABLE READ fixes it at the first plain read).
    open_tasks = [task for task in tasks.values() if task.status == "open"]
    needs: dict[int, Need] = {}
    services: dict[str, dict[str, Any]] = {}
    stations: dict[int, dict[str, Any]] = {}  # by task
    households: dict[int, str | None] = {}  # household account -> openid (None: inactive or none)
    granted: set[int] = set()  # households with a consent left for the claim's message
    live: dict[int, list[tuple[TaskClaim, str]]] = defaultdict(list)
    active: dict[int, list[tuple[int, datetime, datetime]]] = defaultdict(list)
    if open_tasks:
        open_ids = [task.id for task in open_tasks]
        # Each open task's need, household, service and the household's account in one statement.
        text = _task_parts().format(tasks=sql.placeholders(open_ids))
        for row in await sql.rows(text, [notify.TEMPLATES["task_claimed"]["template_id"], *open_ids]):
            need = sql.hydrate(Need, row, "n_")
            need.resident = sql.hydrate(ResidentProfile, row, "r_")
            needs[need.id] = need
            services[row["t_service_id"]] = {"name": row["s_name"], "requires_skill": bool(row["s_requires_skill"])}
            stations[row["t_id"]] = {"name": row["st_name"], "phone": row["st_phone"]}
            if need.resident.user_id is not None:
                households[need.resident.user_id] = row["u_openid"] if row["u_status"] == "active" else None
                if row["q_remaining"]:
                    granted.add(need.resident.user_id)
        # The tasks' live claims (with their volunteers' names) and the claimants' active claims
        # (with their windows), in one statement.
        ids = sorted(v.id for v in volunteers.values()) or [0]
        text = _claims().format(tasks=sql.placeholders(open_ids), ended=sql.placeholders(CLAIM_ENDED),
                                volunteers=sql.placeholders(ids), active=sql.placeholders(CLAIM_ACTIVE))
        for row in await sql.rows(text, [*open_ids, *CLAIM_ENDED, *ids, *CLAIM_ACTIVE]):
            if row["kind"] == "live":
                claim = sql.hydrate(TaskClaim, {key: row[key] for key in LIVE_CLAIM_COLUMNS})
                live[claim.task_id].append((claim, row["volunteer_name"]))
            else:
                active[row["volunteer_id"]].append((row["task_id"], *_convert(Task, row, "scheduled_start", "scheduled_end")))

    outcomes: list[Outcome | None] = []
    made: list[tuple[Ask, Task, TaskClaim, VolunteerProfile, bool]] = []
    for ask in asks:
        volunteer = volunteers.get(ask.user_id) if ask.user_id is not None else ask.volunteer
        outcomes.append(_decide(ask, volunteer, tasks.get(ask.task_id), needs, services, live, active))
        if outcomes[-1] is not None:
            continue
        task = tasks[ask.task_id]
        task.claimed_count += 1
        filled = task.claimed_count >= task.volunteers_needed
        if filled:
            task.status = "claimed"
        claim = sql.new(TaskClaim, task_id=task.id, volunteer_id=volunteer.id, claimed_at=ask.now,
                        active_key=f"{task.id}:{volunteer.id}")
        live[task.id].append((claim, volunteer.name))
        active[volunteer.id].append((task.id, task.scheduled_start, task.scheduled_end))
        made.append((ask, task, claim, volunteer, filled))
    if not made:
        return outcomes

    changed = {task.id: task for _, task, _, _, _ in made}
    await sql.update_many(Task, {tid: {"claimed_count": t.claimed_count, "status": t.status} for tid, t in changed.items()})
    await sql.insert_many([claim for _, _, claim, _, _ in made])
    timeline = []
    for ask, task, claim, volunteer, filled in made:
        timeline.append(events.row(claim, need_id=task.need_id, actor_id=volunteer.user_id, actor_role="volunteer",
                                   from_status=None, to_status="claimed", now=ask.now))
        if filled:
            timeline.append(events.row(task, need_id=task.need_id, actor_id=volunteer.user_id, actor_role="volunteer",
                                       from_status="open", to_status="claimed", now=ask.now))
    await sql.insert_many(timeline, want_ids=False)
    await notify.notify_many(
        [(needs[task.need_id].resident.user_id, "task_claimed",
          {"task_id": task.id, "need_id": task.need_id, "title": task.title, "volunteer_name": mask_name(volunteer.name),
           "at": ask.now, "start": task.scheduled_start})
         for ask, task, claim, volunteer, _ in made],
        now=max(ask.now for ask, *_ in made), recipients=households, granted=granted)
    for task in changed.values():
        feed.changed("cell", task.cell)
    for _, _, _, volunteer, _ in made:
        feed.changed("claims", volunteer.id)
    won = iter(Won(task=task, claim=claim, need=needs[task.need_id], claims=list(live[task.id]),
                   service_name=services[task.service_id]["name"], station=stations[task.id])
               for _, task, claim, _, _ in made)
    # The asks that won are the ones decided None, in the same order.
    return [next(won) if outcome is None else outcome for outcome in outcomes]


def _decide(ask: Ask, volunteer: VolunteerProfile | None, task: Task | None, needs: dict[int, Need],
            services: dict[str, dict[str, Any]], live: dict[int, list[tuple[TaskClaim, str]]],
            active: dict[int, list[tuple[int, datetime, datetime]]]) -> Outcome | None:
    """Why ``ask`` fails, given what the batch has decided so far; None if it wins its slot."""
    own = ask.user_id is not None
    if volunteer is None:
        return Forbidden("仅已审核通过的志愿者可领取任务")
    if task is None:
        return NotFound("任务不存在")
    if task.status != "open":
        # Anyone racing for the last slot learns they lost (409), not that the task is gone.
        return TaskAlreadyClaimed() if task.status == "claimed" or not own else NotOpen(task)
    if own:
        if task.scheduled_end <= ask.now:
            return events.invalid_state(task, "领取")
        household = needs[task.need_id].resident
        refusal = fit_refusal(service_code=task.service_id, requires_skill=services[task.service_id]["requires_skill"],
                              volunteer=volunteer, household=household)
        if refusal is not None:
            return refusal
        mine = active[volunteer.id]
        if any(task_id == task.id for task_id, _, _ in mine):
            return TaskAlreadyClaimed("您已领取该任务")
        if len(mine) >= ask.limit:
            return ClaimLimit(details={"limit": ask.limit, "active": len(mine)})
        for task_id, start, end in mine:
            if start < task.scheduled_end and task.scheduled_start < end:
                return ClaimOverlap(details={"task_id": task_id})
    if task.claimed_count >= task.volunteers_needed:
        return TaskAlreadyClaimed()
    key = f"{task.id}:{volunteer.id}"
    if any(claim.active_key == key for claim, _ in live[task.id]):
        return TaskAlreadyClaimed("您已领取该任务")
    return None


async def assign(*, task: Task, volunteer: VolunteerProfile, now: datetime) -> TaskClaim:
    """A slot of ``task`` for ``volunteer``, by a station, a pairing or an organisation, in the
    caller's transaction: only the slot is checked (who may serve was decided by whoever assigns)."""
    [outcome] = await take([Ask(task_id=task.id, now=now, volunteer=volunteer)])
    if isinstance(outcome, DomainError):
        raise outcome
    task.claimed_count, task.status = outcome.task.claimed_count, outcome.task.status
    return outcome.claim


class Claims:
    """A process's claims (``app.ctx.claims``), decided together while the database is busy with
    the ones before (server.batching)."""

    def __init__(self, *, max_batch: int = 64) -> None:
        self._batcher = Batcher("claim", self._transact, max_batch=max_batch, isolate=True)

    async def claim(self, *, actor: Actor, task_id: int, now: datetime, limit: int) -> Won:
        """The caller's claim of the task: raises the reason it was refused (``PastClaiming`` for a
        task past claiming)."""
        actor.require("volunteer")
        outcome = await self._batcher.submit(Ask(task_id=task_id, now=now, user_id=actor.id, limit=limit))
        if isinstance(outcome, NotOpen):
            raise PastClaiming(outcome.task)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    @staticmethod
    async def _transact(asks: list[Ask]) -> list[Outcome]:
        changes = feed.current()
        for attempt in range(RETRIES + 1):
            changes.begin_request()
            try:
                async with in_transaction():
                    outcomes = await take(asks)
            except Exception as exc:
                if attempt < RETRIES and db_errno(exc) in RETRY_ERRNOS:
                    continue
                raise
            # Committed: now every process's caches may hear of it, before any claimant does.
            await changes.end_request()
            return outcomes
        raise AssertionError("unreachable")
