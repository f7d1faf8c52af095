#!/usr/bin/env python3
"""Fuzz the API with schemathesis from its own /docs/openapi.json, as each role.

A throwaway MariaDB database is migrated and given the demo data, the WeChat stand-in and the API
start as processes, and ``st run`` is pointed at the API once per role (anonymous, resident,
volunteer, worker, org staff, admin) with the checks "no 5xx" and "response matches its schema".
Prints what was generated and found per role; exits non-zero on any failure or if fewer requests
than ``--min-cases`` were made. ``scripts/fuzz`` runs it; the test suite runs a CI-sized pass
(tests/faults/test_fuzz.py); ``scripts/fuzz --examples 100`` is a long one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import _boot  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "fuzz"
ROLES = ("anonymous", "resident", "volunteer", "worker", "org_staff", "admin")
# Operations that end the fuzzing account itself (the rest of its run would be 401s).
EXCLUDED_OPERATIONS = ("delete~me.close_me",)


def say(*parts: object) -> None:
    print("fuzz:", *parts, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def prepare(db_url: str, jwt_secret: str) -> dict[str, str]:
    """Migrate, seed the demo data, and return a token per signed-in role."""
    from config import Settings
    from models import Organization, User, UserRole
    from server import db
    from server.auth import issue_token
    from models import sealed
    from server.pii import FieldCipher
    from server.ops import demo

    await db.ensure_database(db_url)
    await db.apply_migrations(db_url)
    await db.connect(db_url)
    try:
        env = os.environ
        cipher = FieldCipher.from_settings(data_key=env["HAIBEI_DATA_KEY"], index_key=env["HAIBEI_INDEX_KEY"])
        sealed.install(cipher)
        await demo.seed(cipher=cipher, settings=Settings())
        org = await Organization.first()
        if org is None:
            org = await Organization.create(name="模糊测试社工机构", kind="social_work")
        staff, _ = await User.get_or_create(openid="fuzz-org-staff")
        await UserRole.get_or_create(user_id=staff.id, role="resident")
        await UserRole.get_or_create(user_id=staff.id, role="org_staff", defaults={"organization_id": org.id})
        openids = {"resident": "demo-resident-1", "volunteer": "demo-volunteer-1", "worker": "demo-worker-1",
                   "org_staff": "fuzz-org-staff", "admin": "demo-admin"}
        tokens = {}
        for role, openid in openids.items():
            user = await User.get(openid=openid)
            tokens[role] = issue_token(user=user, secret=jwt_secret, ttl_seconds=6 * 3600)
        return tokens
    finally:
        await db.disconnect()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                            start_new_session=True)


def wait_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"process died: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in 30 s")


def run_role(role: str, token: str | None, base: str, examples: int, seed: int) -> dict:
    report = OUT / f"{role}.ndjson"
    cmd = [str(ROOT / ".venv/bin/st"), "run", f"{base}/docs/openapi.json", "--checks",
           "not_a_server_error,response_schema_conformance", "-n", str(examples), "--workers", "2",
           "--seed", str(seed), "--no-color", "--max-failures", "100", "--report", "ndjson",
           "--report-ndjson-path", str(report), "--request-timeout", "30"]
    for op in EXCLUDED_OPERATIONS:
        cmd += ["--exclude-operation-id", op]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    started = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800).stdout
    (OUT / f"{role}.log").write_text(out)
    generated = re.search(r"(\d+) generated", out)
    failures = re.search(r"(\d+) found (\d+) unique failure", out)
    errors = re.search(r"(\d+) errors?", out.split("SUMMARY")[-1]) if "SUMMARY" in out else None
    return {"role": role, "generated": int(generated.group(1)) if generated else 0,
            "failures": int(failures.group(2)) if failures else 0,
            "errors": int(errors.group(1)) if errors else 0, "seconds": round(time.time() - started, 1),
            "log": str((OUT / f"{role}.log").relative_to(ROOT))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10, help="examples per operation and phase (st -n)")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--min-cases", type=int, default=5000, help="fail if fewer requests were generated in all")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--db-url", default=os.environ.get("HAIBEI_FUZZ_DB_URL",
                                                           f"mysql://root:@127.0.0.1:3306/haibei_fuzz_{secrets.token_hex(4)}"))
    parser.add_argument("--redis-url", default=os.environ.get("HAIBEI_FUZZ_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    jwt_secret = "fuzz-" + secrets.token_urlsafe(32)
    api_port, standin_port = free_port(), free_port()
    limits = OUT / "rate_limits.json"
    limits.write_text(json.dumps({"limits": {}}))  # the fuzzer is one address hammering every route
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAIBEI_")}
    env.update({
        "HAIBEI_MODE": "embedded", "HAIBEI_DB_URL": args.db_url, "HAIBEI_REDIS_URL": args.redis_url,
        "HAIBEI_REDIS_PREFIX": f"haibei-fuzz-{secrets.token_hex(3)}:", "HAIBEI_JWT_SECRET": jwt_secret,
        "HAIBEI_DATA_KEY": "fz:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "HAIBEI_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "HAIBEI_RUN_WORKER": "off",
        "HAIBEI_STANDIN_PORT": str(standin_port), "HAIBEI_WECHAT_API_BASE": f"http://127.0.0.1:{standin_port}",
        "HAIBEI_RATE_LIMITS_FILE": str(limits), "HAIBEI_LOG_LEVEL": "WARNING", "HAIBEI_UPLOAD_DIR": str(OUT / "uploads"),
    })
    # Hostile values beside the generated ones (ids past 64 bits, JSON nested too deep, bodies where
    # none belongs): the hooks of tests/faults/test_fuzz.py, unless another hooks file is named.
    env.setdefault("SCHEMATHESIS_HOOKS", str(ROOT / "tests" / "faults" / "test_fuzz.py"))
    os.environ.update(env)
    say(f"database {args.db_url.split('@')[-1]}: migrating and seeding the demo data")
    tokens = asyncio.run(prepare(args.db_url, jwt_secret))
    procs = [start([sys.executable, "scripts/wechat_standin"], env, OUT / "standin.log")]
    procs.append(start([str(ROOT / ".venv/bin/sanic"), "server.app:create_app", "--factory", "--host", "127.0.0.1",
                        "--port", str(api_port), "--single-process", "--no-motd"], env, OUT / "api.log"))
    base = f"http://127.0.0.1:{api_port}"
    results = []
    try:
        wait_up(base + "/livez", procs[1], OUT / "api.log")
        for role in args.roles.split(","):
            say(f"role {role}: st run -n {args.examples}")
            results.append(run_role(role, tokens.get(role), base, args.examples, args.seed))
            r = results[-1]
            say(f"  {r['generated']} generated, {r['failures']} failures, {r['errors']} errors ({r['seconds']} s)")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
                p.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if not args.keep_db and args.db_url.startswith("mysql://"):
            from server.db import drop_database

            asyncio.run(drop_database(args.db_url))
    total = sum(r["generated"] for r in results)
    bad = [r for r in results if r["failures"] or r["errors"]]
    (OUT / "summary.json").write_text(json.dumps({"total": total, "results": results}, indent=1))
    print(f"\n{'role':<10} {'generated':>9} {'failures':>8} {'errors':>6}")
    for r in results:
        print(f"{r['role']:<10} {r['generated']:>9} {r['failures']:>8} {r['errors']:>6}")
    print(f"{'all':<10} {total:>9}")
    if bad:
        print("FAILED: see " + ", ".join(r["log"] for r in bad))
        return 1
    if total < args.min_cases:
        print(f"FAILED: only {total} requests generated, fewer than {args.min_cases}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
