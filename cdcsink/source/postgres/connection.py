"""Connections to PostgreSQL, with psycopg2.

psycopg2 is the one maintained Python driver that speaks the replication
protocol (psycopg 3 has none; asyncpg neither). Its calls block, so every
command (set-up, catalog queries, the snapshot's fetches) runs in a worker
thread via :func:`asyncio.to_thread`; the replication stream itself is read on
the event loop without blocking: ``loop.add_reader`` on the connection's socket
wakes the reader, and ``read_message()`` only takes what has arrived.

Every connection fixes the settings value text depends on, so values look the
same whatever the server's defaults: ISO dates, UTC, ``bytea`` as hex, floats
with all their digits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cdcsink.errors import CdcsinkError, ConfigError

SESSION_OPTIONS = "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"
CONNECT_TIMEOUT_S = 10

#: Words of a connection error that no retry can fix (a refused role, password or database).
_REFUSALS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied",
    "must be superuser or replication role",
    "must have replication",
    "authentication failed",
)


class PostgresUnavailableError(CdcsinkError, ConnectionError):
    """The database could not be reached or the connection was lost: a new run retries."""


def describe_dsn(dsn: str) -> str:
    """The DSN's host, port and database, for messages (never its password)."""
    try:
        from psycopg2.extensions import parse_dsn

        parts = parse_dsn(dsn)
    except Exception:
        return "postgres"
    host = parts.get("host", "localhost")
    port = parts.get("port", "5432")
    return f"postgres {host}:{port}/{parts.get('dbname', parts.get('user', ''))}"


def connection_error(dsn: str, error: BaseException, doing: str) -> CdcsinkError:
    """One line for ``error``; a refusal is a config error (exit 2), anything else retriable."""
    text = " ".join(str(error).split()) or type(error).__name__
    where = describe_dsn(dsn)
    if any(word in text for word in _REFUSALS):
        return ConfigError(f"source.dsn: {where}: {doing}: {text}")
    return PostgresUnavailableError(f"{where}: {doing}: {text}")


def connect(dsn: str, *, replication: bool = False, autocommit: bool = True) -> Any:
    """A psycopg2 connection (blocking: call in a thread)."""
    import psycopg2
    from psycopg2.extras import LogicalReplicationConnection

    try:
        connection = psycopg2.connect(
            dsn,
            connection_factory=LogicalReplicationConnection if replication else None,
            options=SESSION_OPTIONS,
            application_name="cdcsink",
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg2.Error as error:
        raise connection_error(dsn, error, "cannot connect") from None
    if not replication:
        connection.autocommit = autocommit
    return connection


def query(connection: Any, sql: Any, args: Any = None) -> list[tuple[Any, ...]]:
    """Run ``sql`` and return its rows (blocking)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall() if cursor.description is not None else []


async def run(dsn: str, what: str, function: Any, *args: Any) -> Any:
    """``function(*args)`` in a worker thread; a driver error becomes one line naming ``what``."""
    import psycopg2

    try:
        return await asyncio.to_thread(function, *args)
    except psycopg2.Error as error:
        raise connection_error(dsn, error, what) from None


def close_quietly(connection: Any) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:
            pass


def raw_text_casters(connection: Any) -> None:
    """Make ``connection`` return every value as PostgreSQL's text (as pgoutput sends it)."""
    import psycopg2.extensions as ext

    oids = tuple(row[0] for row in query(connection, "SELECT oid FROM pg_type"))
    raw = ext.new_type(oids, "RAW_TEXT", lambda value, cursor: value)
    ext.register_type(raw, connection)
