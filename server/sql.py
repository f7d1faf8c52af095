"""Hand-written SQL for the hot paths (issue 7).

The ORM builds every statement anew in Python (about a millisecond of CPU for a select with a join,
measured with ``scripts/bench --profile``); the few statements on the paths volunteers hit
constantly — who is calling, which tasks are near — are written out here once instead. Parameters
are always bound, never formatted into the text. The same text runs on MariaDB/MySQL and on the
embedded SQLite default: write ``%s`` placeholders and only SQL both understand.

Rows come back as dicts; ``hydrate`` turns a row into a model instance the rest of the code can use
as if the ORM had loaded it. Inside ``in_transaction()`` the statements run on the transaction's
connection, like the ORM's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tortoise import connections
from tortoise.models import Model

M = TypeVar("M", bound=Model)


def _client():
    return connections.get("default")


def _dialect_text(client, text: str) -> str:
    return text.replace("%s", "?") if client.capabilities.dialect == "sqlite" else text


class Statement:
    """Text built on first use: a model's columns are known only once Tortoise is initialised
    (foreign-key columns are added then), after this module is imported."""

    def __init__(self, build: Callable[[], str]) -> None:
        self._build = build
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._build()
        return self._text


async def rows(text: str | Statement, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run one statement and return its rows as dicts."""
    client = _client()
    return await client.execute_query_dict(_dialect_text(client, str(text)), list(params))


def hydrate(model: type[M], row: dict[str, Any], prefix: str = "") -> M:
    """A model instance from a row holding all of the model's columns (optionally ``prefix``ed)."""
    if prefix:
        row = {key[len(prefix):]: value for key, value in row.items() if key.startswith(prefix)}
    return model._init_from_db(**row)


def columns(model: type[Model], alias: str, prefix: str = "") -> str:
    """``alias.col AS prefixcol, …`` for every column of ``model``: a select list for ``hydrate``."""
    return ", ".join(f"{alias}.{col} AS {prefix}{col}" for col in model._meta.db_fields)


def placeholders(values: list[Any] | tuple[Any, ...] | set[Any]) -> str:
    """``%s, %s, …`` for an IN list (callers make sure it is not empty)."""
    return ", ".join(["%s"] * len(values))
