"""A run's rows as each database takes them, in as few statements as it takes.

:mod:`healthd.history.sql` writes the statements; this says what goes in them: on
PostgreSQL one JSON array of rows, elsewhere the values themselves, a datetime in the
backend's own form, as many rows a statement as its parameter limit allows and, on
MySQL / MariaDB, as fit MYSQL_STATEMENT_BYTES.
"""

from __future__ import annotations

import datetime
import json
import math
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# One MySQL statement stays under this many bytes: MySQL 8 accepts 64 MiB by default,
# MariaDB 16 MiB, older servers 4 MiB (``max_allowed_packet``).
MYSQL_STATEMENT_BYTES = 4 * 1024 * 1024


def prepared(connection: BaseDatabaseWrapper, fields: list[models.Field],
             rows: Sequence[tuple]) -> list[list[Any]]:
    """The rows as the backend takes them: a datetime in the backend's own form, and on
    MySQL, which stores no infinity, an infinite float as the largest one (NaN as NULL)."""
    dated = [index for index, field in enumerate(fields)
             if isinstance(field, models.DateTimeField)]
    mysql = connection.vendor == "mysql"
    taken = []
    for row in rows:
        values = list(row)
        for index in dated:
            values[index] = fields[index].get_db_prep_save(row[index], connection)
        if mysql:
            values = [_finite(value) for value in values]
        taken.append(values)
    return taken


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else math.copysign(sys.float_info.max, value)
    return value


def chunks(connection: BaseDatabaseWrapper, rows: list[list[Any]], width: int
           ) -> list[list[list[Any]]]:
    """The rows in as few statements as the database takes (one, for a usual run)."""
    per_statement = max(1, _max_parameters(connection) // width)
    budget = MYSQL_STATEMENT_BYTES if connection.vendor == "mysql" else math.inf
    statements: list[list[list[Any]]] = [[]]
    size = 0
    for row in rows:
        # At most four bytes a character, escapes included; about 24 for anything else.
        row_size = sum(4 * len(v) if isinstance(v, str) else 24 for v in row)
        if statements[-1] and (len(statements[-1]) >= per_statement
                               or size + row_size > budget):
            statements.append([])
            size = 0
        statements[-1].append(row)
        size += row_size
    return statements


def json_rows(rows: Sequence[tuple]) -> str:
    """The rows as one JSON array for PostgreSQL; an infinity or NaN (not JSON) goes as
    the text PostgreSQL reads as that float."""
    try:
        return json.dumps(rows, default=datetime.datetime.isoformat, allow_nan=False)
    except ValueError:
        return json.dumps([[repr(v) if isinstance(v, float) and not math.isfinite(v) else v
                            for v in row] for row in rows], default=datetime.datetime.isoformat)


def _max_parameters(connection: BaseDatabaseWrapper) -> int:
    """How many parameters one statement may carry on this database."""
    if connection.vendor == "sqlite":
        # Django assumes SQLite's old default of 999; the library says what it allows.
        connection.ensure_connection()
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(connection.features.max_query_params or 65_535)
