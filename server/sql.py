"""Hand-written SQL for the hot paths.

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


def dialect(client=None) -> str:
    """The SQL dialect of ``client`` (the default connection if none): "mysql" (MySQL and MariaDB)
    or "sqlite"."""
    return (client or _client()).capabilities.dialect


def _dialect_text(client, text: str) -> str:
    return text.replace("%s", "?") if dialect(client) == "sqlite" else text


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


async def execute(text: str, params: list[Any] | tuple[Any, ...] = ()) -> int:
    """Run one statement that returns no rows; how many rows it changed."""
    client = _client()
    count, _ = await client.execute_query(_dialect_text(client, text), list(params))
    return count


def hydrate(model: type[M], row: dict[str, Any], prefix: str = "") -> M:
    """A model instance from a row holding the model's columns (optionally ``prefix``ed), as the
    ORM's own ``_init_from_db`` builds it, each column converted the way it converts it. A row
    holding only some columns (``columns(..., only=...)``) gives a partial instance, as ``.only()``
    does. How to read a row of a given shape is worked out once (``_plan``): the ORM's own way
    with a partial row works out which columns need converting again for every row, and claim
    batches read dozens of partial rows each."""
    partial, plan = _plan(model, prefix, tuple(row))
    obj = model.__new__(model)
    meta = model._meta
    _setattr = object.__setattr__
    _setattr(obj, "_partial", partial)
    _setattr(obj, "_saved_in_db", True)
    _setattr(obj, "_custom_generated_pk", meta.db_pk_column not in meta.generated_db_fields)
    _setattr(obj, "_await_when_save", {})
    for key, attr, convert in plan:
        value = row[key]
        _setattr(obj, attr, value if convert is None else convert(value))
    return obj


_PLANS: dict[tuple[type, str, tuple[str, ...]], tuple[bool, list[tuple[str, str, Callable[[Any], Any] | None]]]] = {}


def _plan(model: type[Model], prefix: str, keys: tuple[str, ...]):
    """For rows of ``model`` with ``keys``: whether the instance is partial, and for each column
    read (key, attribute, conversion or None), as ``Model._init_from_db`` converts them: values the
    driver already gives as Python's (``db_native_fields``) as they are, fields that only cast to
    their type (``db_default_fields``) cast unless NULL, the others through ``to_python_value``."""
    found = _PLANS.get((model, prefix, keys))
    if found is not None:
        return found
    meta = model._meta
    native = {key for key, _, _ in meta.db_native_fields}
    cast = {key: field.field_type for key, _, field in meta.db_default_fields}
    plan = []
    for key in keys:
        if not key.startswith(prefix):
            continue
        column = key[len(prefix):]
        attr = meta.fields_db_projection_reverse.get(column)  # the field a column belongs to
        if attr is None:
            continue
        field = meta.fields_map[attr]
        if column in native:
            convert = None
        elif column in cast:
            convert = _cast(cast[column])
        else:
            convert = field.to_python_value
        plan.append((key, attr, convert))
    partial = {column for column, _, _ in meta.db_native_fields + meta.db_default_fields + meta.db_complex_fields} \
        - {key[len(prefix):] for key, _, _ in plan}
    found = _PLANS[(model, prefix, keys)] = (bool(partial), plan)
    return found


def _cast(field_type: type) -> Callable[[Any], Any]:
    return lambda value: None if value is None else field_type(value)


def new(model: type[M], **values: Any) -> M:
    """An unsaved instance, as ``model(**values)`` builds it — each value given through its field's
    ``to_python_value``, every other field its default — without the ORM's per-attribute hooks
    (``Model.__setattr__`` looks up the field and its pending async default on every assignment;
    a claim batch builds a hundred rows). Values that are related objects, a primary key or a
    field with an async default go the ORM's own way."""
    meta = model._meta
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = _defaults(model)
    if defaults is _ORM or not values.keys() <= meta.fields_db_projection.keys() or meta.pk_attr in values:
        return model(**values)
    obj = model.__new__(model)
    _setattr = object.__setattr__
    _setattr(obj, "_partial", False)
    _setattr(obj, "_saved_in_db", False)
    _setattr(obj, "_custom_generated_pk", False)
    _setattr(obj, "_await_when_save", {})
    fields = meta.fields_map
    for key, value in values.items():
        if value is None and not fields[key].null:
            raise ValueError(f"{key} is non nullable field, but null was passed")
        _setattr(obj, key, fields[key].to_python_value(value))
    for key, default in defaults:
        if key not in values:
            _setattr(obj, key, default() if callable(default) else default)
    return obj


_ORM = object()
_DEFAULTS: dict[type, Any] = {}


def _defaults(model: type[Model]):
    """Each field's default for ``new``, as ``Model.__init__`` gives it: a callable (a factory, or
    a copy of a mutable default) or a value; ``_ORM`` where a default is a coroutine function."""
    import copy
    import inspect

    meta = model._meta
    out: list[tuple[str, Any]] = []
    for key in meta.fields - meta.fetch_fields:  # relations are not given defaults (Model.__init__)
        field = meta.fields_map[key]
        default = field.default
        if inspect.iscoroutinefunction(default):
            return _ORM
        if callable(default):
            out.append((key, default))
        elif default is not None:
            if isinstance(default, (int, float, str, bool, bytes)):
                out.append((key, default))
            else:
                out.append((key, lambda default=default: copy.deepcopy(default)))
        elif field.has_db_default():
            out.append((key, field.get_db_default_value))
        else:
            out.append((key, None))
    return out


def columns(model: type[Model], alias: str, prefix: str = "", only: tuple[str, ...] | None = None) -> str:
    """``alias.col AS prefixcol, …`` for every column of ``model`` (or those in ``only``): a select
    list for ``hydrate``. With ``only`` the instances are partial: what is not read is not there."""
    return ", ".join(f"{alias}.{col} AS {prefix}{col}" for col in (only or model._meta.db_fields))


def checksum(exprs: list[str] | tuple[str, ...]) -> str:
    """MySQL/MariaDB: a 60-bit hash of the values of ``exprs`` in one row. A process-local cache
    keeps the XOR of its rows' hashes, so that an entry near its age limit is checked by one short
    row (``BIT_XOR`` of the same expression) instead of read again. MD5, not CRC32: CRC32 is linear,
    so the same change to two rows of the same length (a caller's two role rows, their shared
    claims) cancels out in the XOR. NULLs are written as "~": CONCAT_WS would skip them, letting a
    value move between columns unseen."""
    values = ", ".join(f"COALESCE({e}, '~')" for e in exprs)
    return f"CAST(CONV(LEFT(MD5(CONCAT_WS('|', {values})), 15), 16, 10) AS UNSIGNED)"


def placeholders(values: list[Any] | tuple[Any, ...] | set[Any]) -> str:
    """``%s, %s, …`` for an IN list (callers make sure it is not empty)."""
    return ", ".join(["%s"] * len(values))


def for_update(client=None) -> str:
    """`` FOR UPDATE`` where the database takes row locks (SQLite serialises writers instead)."""
    return "" if dialect(client) == "sqlite" else " FOR UPDATE"


async def insert_many(objs: list[M], *, want_ids: bool = True) -> None:
    """Insert unsaved instances of one model in one statement, each column prepared as the ORM's
    own insert prepares it (defaults, ``auto_now_add``, JSON). With ``want_ids`` each instance
    gets its new primary key: through ``RETURNING`` where the server has it (MariaDB ≥ 10.5,
    SQLite ≥ 3.35), else one insert per row (MySQL: a multi-row insert reports only its first id,
    and consecutive ids are not promised under ``innodb_autoinc_lock_mode=2``)."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    names = [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]
    values = [[meta.fields_map[name].to_db_value(getattr(obj, name), obj) for name in names] for obj in objs]
    # A nullable column without a database default that is NULL in every row is left out: the
    # server writes NULL there itself (a claim row is mostly such columns until it is served).
    keep = [k for k, name in enumerate(names)
            if not _null_by_default(meta.fields_map[name]) or any(row[k] is not None for row in values)]
    if len(keep) < len(names):
        names = [names[k] for k in keep]
        values = [[row[k] for k in keep] for row in values]
    cols = ", ".join(meta.fields_db_projection[name] for name in names)
    row_marks = "(" + ", ".join(["%s"] * len(names)) + ")"
    params: list[Any] = [value for row in values for value in row]
    client = _client()
    head = f"INSERT INTO {meta.db_table} ({cols}) VALUES "
    every_row = head + ", ".join([row_marks] * len(objs))
    if not want_ids:
        await client.execute_query(_dialect_text(client, every_row), params)
    elif returning_supported(client):
        text = every_row + f" RETURNING {meta.db_pk_column}"
        got = await client.execute_query_dict(_dialect_text(client, text), params)
        # Rows come back in the order inserted (one statement, one auto-increment run).
        for obj, row in zip(objs, got, strict=True):
            obj.pk = row[meta.db_pk_column]
    else:
        width = len(names)
        for k, obj in enumerate(objs):
            obj.pk = await client.execute_insert(_dialect_text(client, head + row_marks), params[k * width:(k + 1) * width])
    for obj in objs:
        obj._saved_in_db = True


def _null_by_default(field) -> bool:
    return field.null and not field.has_db_default()


_RETURNING: dict[str, bool] = {}


def returning_supported(client) -> bool:
    """Whether ``INSERT … RETURNING`` works here (MySQL/MariaDB: as ``server.db.connect`` found;
    SQLite: by its version, unless set)."""
    dialect = client.capabilities.dialect
    if dialect in _RETURNING:
        return _RETURNING[dialect]
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


def set_returning(dialect: str, supported: bool | None) -> None:
    """Say whether ``dialect`` has ``RETURNING`` (None: back to finding out)."""
    if supported is None:
        _RETURNING.pop(dialect, None)
    else:
        _RETURNING[dialect] = supported


async def update_many(model: type[Model], changes: dict[Any, dict[str, Any]]) -> None:
    """Set columns row by row in one statement, by primary key: ``{pk: {field: value}}``, every
    row naming the same fields, values as the driver takes them (numbers, text). Callers hold the
    rows' locks (they read them ``for_update``)."""
    if not changes:
        return
    meta = model._meta
    pk = meta.db_pk_column
    names = list(next(iter(changes.values())))
    sets, params = [], []
    for name in names:
        column = meta.fields_db_projection.get(name, name)
        whens = " ".join(["WHEN %s THEN %s"] * len(changes))
        sets.append(f"{column} = CASE {pk} {whens} END")
        for key, row in changes.items():
            params += [key, row[name]]
    keys = list(changes)
    client = _client()
    await client.execute_query(
        _dialect_text(client, f"UPDATE {meta.db_table} SET {', '.join(sets)} WHERE {pk} IN ({placeholders(keys)})"),
        params + keys)
