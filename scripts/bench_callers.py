#!/usr/bin/env python3
"""What a caller missing from the cache costs the API process: the caller statement for
batches of users, as ``server.auth._load_callers`` runs it, and building what the cache keeps of
them (``_split``), on the data ``scripts/bench`` seeded. The first request of everyone opening the
app pays it; so does every claim of a volunteer the process has not seen yet.

    scripts/bench --scenarios bare        # seeds haibei_bench
    .venv/bin/python scripts/bench_callers.py --batch 30 --users 3000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import _boot  # noqa: F401

from server import auth, db, feed, sql


async def run(db_url: str, batch: int, users: int, rounds: int) -> None:
    await db.connect(db_url)
    try:
        ids = [r["user_id"] for r in await sql.rows(
            "SELECT user_id FROM volunteer_profiles ORDER BY id LIMIT %s", [users])]
        cache = feed.current().cache("user")
        for _ in range(rounds):
            start, reading = time.process_time(), 0.0
            for k in range(0, len(ids), batch):
                wanted = ids[k:k + batch]
                t = time.process_time()
                found = await sql.rows(auth._caller_sql(f"u.id IN ({sql.placeholders(wanted)})"), wanted)
                reading += time.process_time() - t
                by_user: dict[int, list[dict]] = {}
                for row in found:
                    by_user.setdefault(row["id"], []).append(row)
                token = cache.begin()
                for user_id, rows in by_user.items():
                    auth._keep_caller(cache, user_id, rows, token)
            total = time.process_time() - start
            print(f"callers={len(ids)} (batches of {batch}) python_us_per_caller={total / len(ids) * 1e6:.0f}"
                  f" statement_us={reading / len(ids) * 1e6:.0f} building_us={(total - reading) / len(ids) * 1e6:.0f}")
    finally:
        await db.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db-url", default=os.environ.get("HAIBEI_BENCH_DB_URL", "mysql://root:@127.0.0.1:3306/haibei_bench"))
    args = parser.parse_args()
    asyncio.run(run(args.db_url, args.batch, args.users, args.rounds))


if __name__ == "__main__":
    main()
