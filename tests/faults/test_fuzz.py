"""The CI-sized schemathesis run: every operation of /docs/openapi.json fuzzed as every
role against a real API process on MariaDB + Redis; no 5xx, every response matching its schema,
at least 5 000 requests. The long run is ``scripts/fuzz --examples 100``."""

import asyncio
import json
import sys
from pathlib import Path

from tests.support import require_services

ROOT = Path(__file__).resolve().parents[2]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(api):
    require_services(api.settings, "fuzzing an API process")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "scripts/fuzz.py", "--examples", "3", "--min-cases", "5000", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=1200)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    summary = json.loads((ROOT / "var/fuzz/summary.json").read_text())
    assert summary["total"] >= 5000
    assert {r["role"] for r in summary["results"]} == {"anonymous", "resident", "volunteer", "worker", "org_staff", "admin"}
    assert all(r["failures"] == 0 and r["errors"] == 0 for r in summary["results"]), summary
