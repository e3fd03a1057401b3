"""``cdcsink check`` for a postgres source: what logical replication needs, one line per problem."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cdcsink.errors import ConfigError
from cdcsink.source.postgres import connection as pg
from cdcsink.source.postgres.config import split_table

if TYPE_CHECKING:
    from cdcsink.source.config import SourceConfig

_TABLES = """
SELECT n.nspname, c.relname, c.relreplident,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY 1, 2
"""


def _findings(config: "SourceConfig", connection: Any) -> tuple[list[str], list[str]]:
    """(report lines, problems)."""
    where = pg.describe_dsn(config.dsn or "")
    report: list[str] = []
    problems: list[str] = []
    wal_level = pg.query(connection, "SHOW wal_level")[0][0]
    if wal_level != "logical":
        problems.append(f"source.dsn: {where}: wal_level is {wal_level}; logical replication needs wal_level = logical "
                        "(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)")
    role, may_replicate = pg.query(connection, "SELECT current_user, rolreplication OR rolsuper FROM pg_roles "
                                               "WHERE rolname = current_user")[0]
    if not may_replicate:
        problems.append(f"source.dsn: role {role} may not replicate (ALTER ROLE {role} REPLICATION)")
    published = pg.query(connection, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                         (config.publication,))
    exists = bool(pg.query(connection, "SELECT 1 FROM pg_publication WHERE pubname = %s", (config.publication,)))
    if exists:
        report.append(f"publication {config.publication}: {len(published)} tables")
        wanted = {tuple(t) for t in published}
    elif config.create_publication:
        report.append(f"publication {config.publication}: does not exist yet; the run creates it "
                      + (f"for {', '.join(config.tables)}" if config.tables else "FOR ALL TABLES"))
        wanted = {split_table(t) for t in config.tables} if config.tables else None
    else:
        problems.append(f"source.publication: publication {config.publication!r} does not exist on {where} "
                        "and source.create-publication is false")
        wanted = set()
    slot = pg.query(connection, "SELECT plugin, active, confirmed_flush_lsn::text FROM pg_replication_slots "
                                "WHERE slot_name = %s", (config.slot,))
    if slot:
        plugin, active, confirmed = slot[0]
        if plugin != "pgoutput":
            problems.append(f"source.slot: slot {config.slot!r} uses plugin {plugin}, not pgoutput")
        else:
            report.append(f"slot {config.slot}: confirmed up to {confirmed}" + ("; in use by another process" if active else ""))
    elif config.create_slot:
        report.append(f"slot {config.slot}: does not exist yet; the run creates it"
                      + (" and sends the tables' rows first (snapshot: initial)" if config.snapshot == "initial" else ""))
    else:
        problems.append(f"source.slot: replication slot {config.slot!r} does not exist on {where} and source.create-slot is false")
    for schema, table, identity, has_pk, has_index in pg.query(connection, _TABLES):
        if wanted is not None and (schema, table) not in wanted:
            continue
        name = f"{schema}.{table}"
        if identity == "n" or (identity == "d" and not has_pk) or (identity == "i" and not has_index):
            problems.append(
                f"table {name}: REPLICA IDENTITY {dict(n='NOTHING', d='DEFAULT', i='USING INDEX')[identity]} gives no key, so "
                f"PostgreSQL refuses its updates and deletes while it is published (add a primary key, or "
                f"ALTER TABLE {name} REPLICA IDENTITY FULL)"
            )
    return report, problems


async def check_postgres_source(config: "SourceConfig") -> list[str]:
    """Report lines; :class:`ConfigError` with one line per problem."""
    dsn = config.dsn or ""
    connection = await asyncio.to_thread(pg.connect, dsn)
    try:
        report, problems = await pg.run(dsn, "check", _findings, config, connection)
    finally:
        await asyncio.to_thread(pg.close_quietly, connection)
    if problems:
        raise ConfigError("\n".join(problems))
    return [f"postgres source: connected to {pg.describe_dsn(dsn)}; wal_level logical; " + "; ".join(report)]
