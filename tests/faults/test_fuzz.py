"""The CI-sized schemathesis run: every operation of /docs/openapi.json fuzzed as every
role against a real API process on MariaDB + Redis; no 5xx, every response matching its schema,
at least 5 000 requests. The long run is ``scripts/fuzz --examples 100``.

This file is also the run's schemathesis hooks (``SCHEMATHESIS_HOOKS`` names it, so ``st`` loads it
as a plain file: nothing at its top imports the tests' own modules). They mix what an attacker's
probe sent into a share of the generated cases: ids no row can have in the path, integers beyond
64 bits in query strings and bodies, JSON nested deeper than the API parses. Everything else of
each case is what schemathesis made, so the rest of the run still reaches the handlers, and the
request count stays what it was. ``SCHEMATHESIS_HOOKS=tests/faults/test_fuzz.py scripts/fuzz``
sends them in the long run too.
"""

import asyncio
import atexit
import json
import os
import sys
import threading
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_REPORT = ROOT / "var/fuzz"

# Ids no row can have, and integers no 64-bit column holds.
HOSTILE_INTEGERS = (2**63, 2**64, 10**23, -(2**63) - 1, -1, 0)
# Past the 64 levels the API parses (server.http.MAX_JSON_DEPTH).
TOO_DEEP = 65
# Sent as they are, in place of a JSON body: nested past any parser's recursion, an integer of more
# digits than Python converts, numbers that are no JSON.
RAW_BODIES = (b"[" * 100_000, b'{"a": ' + b"7" * 5000 + b"}", b'{"a": 1e999}', b'{"a": NaN}')


def _json_only(context) -> bool:
    kinds = {alternative.media_type for alternative in context.operation.body.items}
    return bool(kinds) and kinds <= {"application/json"}


def _nest(value, depth: int):
    for _ in range(depth):
        value = {"a": value}
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mutated(context, case, kinds: list[str], pick: int, n: int):
    """``case`` as generated (``pick`` 0, and past the kinds), or with one kind of hostile value."""
    if not 1 <= pick <= len(kinds):
        return case
    kind, hostile = kinds[pick - 1], HOSTILE_INTEGERS[n % len(HOSTILE_INTEGERS)]
    out = case.derive(keep_auth=True)
    if kind == "path":
        out.path_parameters = {k: hostile if _is_int(v) else v for k, v in case.path_parameters.items()}
    elif kind == "query":
        # Every query parameter is documented as a string (server.http.query): a cursor, a limit or
        # an id gets digits only from here.
        names = sorted({p.name for p in context.operation.query.items})
        out.query = {**(case.query or {}), names[n % len(names)]: str(hostile)}
    elif kind == "body_integer":
        numbers = sorted(k for k, v in case.body.items() if _is_int(v))
        out.body = {**case.body, numbers[n % len(numbers)]: hostile}
    elif kind == "deep_body":
        out.body = _nest(case.body, TOO_DEEP)
    else:  # raw_body: bytes go out as they are (schemathesis' JSON serializer leaves them alone)
        out.body = RAW_BODIES[n % len(RAW_BODIES)]
    return out


@schemathesis.hook
def flatmap_case(context, case):
    """One kind of hostile value in about half the cases after each operation's first (which stays
    as generated: hypothesis' simplest draw), so the others still reach the handlers."""
    kinds = []
    if any(_is_int(v) for v in (case.path_parameters or {}).values()):
        kinds.append("path")
    if context.operation.query.items:
        kinds.append("query")
    if isinstance(case.body, dict) and _json_only(context):
        kinds += ["deep_body", "raw_body"] + (["body_integer"] if any(_is_int(v) for v in case.body.values()) else [])
    if not kinds:
        return st.just(case)
    return st.tuples(st.integers(0, 2 * len(kinds)), st.integers(0, 10_000)).map(
        lambda pick: _mutated(context, case, kinds, *pick))


# What the hooks sent, and how it was answered, written when ``st`` exits: the proof for the test
# that the hostile values went out (schemathesis' own report counts cases, not what they held).
_SENT: dict[str, int] = {}
_LOCK = threading.Lock()


def _depth(value) -> int:
    depth = 0
    while isinstance(value, dict) and len(value) == 1 and "a" in value:
        value, depth = value["a"], depth + 1
    return depth


def _beyond_64_bits(value) -> bool:
    # Only what schemathesis would not make by itself: ids of 0 and -1 it sends anyway.
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63


def _hostile_kinds(case) -> list[str]:
    kinds = []
    if any(_beyond_64_bits(v) for v in (case.path_parameters or {}).values()):
        kinds.append("path")
    if any(_beyond_64_bits(v) for v in (case.query or {}).values()):
        kinds.append("query")
    if isinstance(case.body, bytes) and case.body in RAW_BODIES:
        kinds.append("raw_body")
    elif isinstance(case.body, dict):
        if any(_beyond_64_bits(v) for v in case.body.values()):
            kinds.append("body_integer")
        if _depth(case.body) >= TOO_DEEP:
            kinds.append("deep_body")
    return kinds


@schemathesis.hook
def after_call(context, case, response):
    answered = f"{response.status_code // 100}xx"
    with _LOCK:
        for kind in _hostile_kinds(case):
            _SENT[f"{kind} {answered}"] = _SENT.get(f"{kind} {answered}", 0) + 1


@atexit.register
def _write_sent() -> None:
    if _SENT and os.environ.get("SCHEMATHESIS_HOOKS"):  # only in ``st``, not when pytest imports this file
        HOSTILE_REPORT.mkdir(parents=True, exist_ok=True)
        (HOSTILE_REPORT / f"hostile-{os.getpid()}.json").write_text(json.dumps(_SENT, sort_keys=True))


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(api):
    from tests.support import require_services

    require_services(api.settings, "fuzzing an API process")
    for stale in HOSTILE_REPORT.glob("hostile-*.json"):
        stale.unlink()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "scripts/fuzz.py", "--examples", "3", "--min-cases", "5000", cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).resolve())},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=1200)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    summary = json.loads((ROOT / "var/fuzz/summary.json").read_text())
    assert summary["total"] >= 5000
    assert {r["role"] for r in summary["results"]} == {"anonymous", "resident", "volunteer", "worker", "org_staff", "admin"}
    assert all(r["failures"] == 0 and r["errors"] == 0 for r in summary["results"]), summary
    # The hostile values went out in every role's run, each kind of them, and none was answered
    # with a 5xx (which not_a_server_error has already held them to).
    sent = [json.loads(p.read_text()) for p in HOSTILE_REPORT.glob("hostile-*.json")]
    assert len(sent) == len(summary["results"]), sent
    kinds = {key.split()[0] for s in sent for key in s}
    assert kinds == {"path", "query", "body_integer", "deep_body", "raw_body"}, sent
    assert not [key for s in sent for key in s if key.endswith("5xx")], sent
