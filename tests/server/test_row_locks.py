"""Row locks that are really taken: Tortoise drops FOR UPDATE from ``values()`` and
``values_list()``, so a "locking" read written that way locks nothing and the race it was meant to
close stays open (seen once: two retries of one Idempotency-Key both missed the record)."""

import ast
from pathlib import Path

from models import User

ROOT = Path(__file__).resolve().parents[2]


def _chain(node: ast.AST):
    """The attribute names along a method chain, from the outermost call inwards."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            yield node.attr
            node = node.value
        elif isinstance(node, ast.Await):
            node = node.value
        else:
            return


async def test_tortoise_drops_for_update_from_values_queries(api):
    # The behaviour the scan below guards against; if Tortoise ever keeps the lock, this says so.
    assert "FOR UPDATE" in User.select_for_update().filter(id=1).sql()
    assert "FOR UPDATE" not in User.select_for_update().filter(id=1).values_list("id", flat=True).sql()


def test_no_locking_read_is_written_as_a_values_query():
    offenders = []
    for path in sorted([*ROOT.glob("server/**/*.py"), *ROOT.glob("handlers/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("values", "values_list"):
                if "select_for_update" in _chain(node.func.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
