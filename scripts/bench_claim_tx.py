#!/usr/bin/env python3
"""What the claim transaction alone costs: ``claims.take`` run in batches, as the API's
claim batcher runs it, on the data ``scripts/bench`` seeded, with no HTTP, no authentication and no
rate limit around it. Prints this process's CPU and MariaDB's per claim: the part of a claim's cost
no change to the request path can remove, to set against the budget the claim target leaves
(20 % of bare: five times a bare request's share of the machine). Every claim it makes is undone
afterwards.

    scripts/bench --scenarios bare        # seeds haibei_bench, measures bare
    .venv/bin/python scripts/bench_claim_tx.py --batch 32 --batches 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime, timezone

import _boot  # noqa: F401
import bench  # scripts/bench.py: the data set's URL and the /proc readings

from server import db, feed, sql
from server.workflow import claims


def _mariadb() -> list[int]:
    return [pid for pid, (_, comm) in bench._processes().items() if comm in ("mariadbd", "mysqld")]


async def run(db_url: str, batch: int, batches: int) -> None:
    from tortoise.transactions import in_transaction

    from models import Notification, Task, TaskClaim, WorkflowEvent

    await db.connect(db_url)
    try:
        n = batch * batches
        tasks = [r["id"] for r in await sql.rows(
            "SELECT id FROM tasks WHERE status = 'open' AND claimed_count = 0 AND scheduled_end > NOW()"
            " ORDER BY id DESC LIMIT %s", [n])]
        # Volunteers with no claim yet: each ask is decided on every rule and wins.
        users = [r["user_id"] for r in await sql.rows(
            "SELECT v.user_id FROM volunteer_profiles v WHERE v.status = 'approved' AND NOT EXISTS"
            " (SELECT 1 FROM task_claims c WHERE c.volunteer_id = v.id) ORDER BY v.id LIMIT %s", [n])]
        if len(tasks) < n or len(users) < n:
            raise SystemExit(f"bench_claim_tx: {len(tasks)} open tasks and {len(users)} volunteers without a claim"
                             f" for {n} claims: seed with scripts/bench (it undoes the last run's claims)")
        now = datetime.now(timezone.utc)
        changes = feed.current()
        services = _mariadb()
        tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
        cpu0, db0, wall0 = time.process_time(), bench._cpu_ticks(services), time.perf_counter()
        won = 0
        for k in range(batches):
            asks = [claims.Ask(task_id=tasks[k * batch + i], now=now, user_id=users[k * batch + i], limit=3)
                    for i in range(batch)]
            changes.begin_request()
            async with in_transaction():
                won += sum(isinstance(o, claims.Won) for o in await claims.take(asks))
        cpu = (time.process_time() - cpu0) * 1e6 / n
        db_cpu = (bench._cpu_ticks(services) - db0) * tick_us / n
        wall = (time.perf_counter() - wall0) * 1e6 / n
        print(f"claims={n} (batches of {batch}) won={won} python_us_per_claim={cpu:.0f}"
              f" mariadb_us_per_claim={db_cpu:.0f} wall_us_per_claim={wall:.0f}")
        # Undo: the bench's own reset would do it on its next start; this leaves the data as found.
        made = [c["id"] for c in await sql.rows(
            f"SELECT id FROM {TaskClaim._meta.db_table} WHERE task_id IN ({sql.placeholders(tasks)})", tasks)]
        async with in_transaction() as conn:
            await conn.execute_query(f"DELETE FROM {WorkflowEvent._meta.db_table} WHERE task_id IN"
                                     f" ({sql.placeholders(tasks)})", tasks)
            await conn.execute_query(f"DELETE FROM {Notification._meta.db_table} WHERE event = 'task_claimed'"
                                     " AND created_at >= %s", [now.replace(tzinfo=None)])
            if made:
                await conn.execute_query(f"DELETE FROM {TaskClaim._meta.db_table} WHERE id IN"
                                         f" ({sql.placeholders(made)})", made)
            await conn.execute_query(f"UPDATE {Task._meta.db_table} SET status = 'open', claimed_count = 0"
                                     f" WHERE id IN ({sql.placeholders(tasks)})", tasks)
    finally:
        await db.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=os.environ.get("HAIBEI_BENCH_DB_URL", "mysql://root:@127.0.0.1:3306/haibei_bench"))
    parser.add_argument("--batch", type=int, default=32, help="claims per transaction (the API's batches average 15-31)")
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(run(args.db_url, args.batch, args.batches))


if __name__ == "__main__":
    main()
