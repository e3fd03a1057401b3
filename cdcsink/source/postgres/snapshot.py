"""The initial snapshot: the publication's tables as they were when the slot was made.

``CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')`` returns the slot's
consistent point ``C`` and a snapshot that sees exactly the transactions
committed before ``C``; the stream then starts with the first transaction
committing at or after ``C``. A second connection imports that snapshot
(``SET TRANSACTION SNAPSHOT``) and reads every table with a server-side
cursor, so the rows and the stream meet with no gap and no overlap. Snapshot
rows are inserts at ``commit_ts = C - 1``, below every streamed commit, and a
resolved event at ``C - 1`` whose position is ``C`` ends the snapshot.
"""

from __future__ import annotations

from typing import Any, Iterator

from psycopg2 import sql

from cdcsink.source.postgres.connection import query, raw_text_casters
from cdcsink.source.postgres.pgoutput import PgColumn, Relation

#: Rows fetched per round trip.
FETCH_ROWS = 5000


def publication_tables(connection: Any, publication: str) -> list[tuple[str, str]]:
    rows = query(
        connection,
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2",
        (publication,),
    )
    return [(schema, table) for schema, table in rows]


def describe(connection: Any, schema: str, table: str) -> Relation:
    """The table as a Relation message would describe it: columns, types, and the replica identity's key."""
    rows = query(
        connection,
        """
        SELECT a.attname, a.atttypid, a.atttypmod,
               coalesce(a.attnum = ANY (i.indkey), false) AS key,
               c.relreplident,
               CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN NULL
                    ELSE t.typnamespace::regnamespace::text || '.' || t.typname END
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_index i ON i.indrelid = c.oid AND (
             (c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
        WHERE c.oid = %s::regclass
        ORDER BY a.attnum
        """,
        (sql.Identifier(schema, table).as_string(connection),),
    )
    # The connection returns every value as text (raw_text_casters): read them back into their types.
    identity = str(rows[0][4]) if rows else "d"
    columns = [
        PgColumn(name, int(oid), int(typmod), key in (True, "t") or identity == "f") for name, oid, typmod, key, _, _ in rows
    ]
    type_names = {int(oid): name for _, oid, _, _, _, name in rows if name is not None}
    return Relation(schema, table, identity, columns, type_names)


def begin(connection: Any, snapshot_name: str) -> None:
    """Open the transaction that sees the slot's exported snapshot (blocking)."""
    raw_text_casters(connection)
    connection.autocommit = False
    with connection.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))


def rows(connection: Any, schema: str, table: str) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in batches of text values (blocking: iterate in a thread, one batch per step)."""
    with connection.cursor(name=f"cdcsink_snapshot_{abs(hash((schema, table)))}") as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
        while True:
            batch = cursor.fetchmany(FETCH_ROWS)
            if not batch:
                return
            yield batch
