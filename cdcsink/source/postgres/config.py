"""The ``source:`` keys of the ``postgres`` source (logical replication with pgoutput)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from cdcsink.configtypes import Bool, Duration, parse_text_list

#: A replication slot's name: PostgreSQL allows lower-case letters, digits and underscores.
_SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")
#: A table as ``schema.table`` (or ``table``: schema public); quoted names are not needed for the check.
_TABLE_NAME = re.compile(r'^(?:[^.\s]+\.)?[^.\s]+$')


class PostgresSourceConfig(BaseModel):
    """Mixed into :class:`cdcsink.source.config.SourceConfig` (one flat ``source:`` section)."""

    dsn: str | None = Field(
        default=None,
        description="postgres: the database to read, as a libpq URI or key=value string (postgresql://user@host:5432/db); the password may come from CDCSINK_SOURCE__DSN_FILE (masked in config show).",
    )
    slot: str = Field(default="cdcsink", description="postgres: the logical replication slot; its confirmed position only moves once Kafka acknowledged everything before it.")
    publication: str = Field(default="cdcsink", description="postgres: the publication whose tables are read.")
    create_slot: Bool = Field(default=True, description="postgres: create the slot (pgoutput) when it does not exist.")
    create_publication: Bool = Field(
        default=True, description="postgres: create the publication when it does not exist: FOR ALL TABLES, or for tables."
    )
    tables: list[str] = Field(
        default_factory=list, description="postgres: schema.table names for a created publication (default: all tables)."
    )
    snapshot: Literal["initial", "never"] = Field(
        default="initial",
        description="postgres: initial sends the tables' existing rows (read in the new slot's snapshot) before the stream; never streams changes only.",
    )
    heartbeat_interval: Duration = Field(
        default=10.0, gt=0, description="postgres: while no change arrives, ask the server for its WAL position this often, so the slot (and the watermark) keep advancing on a quiet database."
    )
    status_interval: Duration = Field(
        default=10.0, gt=0, description="postgres: send the server a status update (the acknowledged position) at least this often."
    )

    @field_validator("tables", mode="before")
    @classmethod
    def _table_list(cls, value: object) -> object:
        return parse_text_list(value)  # a JSON list, or comma-separated

    def postgres_problems(self) -> list[str]:
        problems = []
        if not self.dsn:
            problems.append("dsn: required for a postgres source (postgresql://user@host:5432/dbname)")
        if not _SLOT_NAME.match(self.slot):
            problems.append(f"slot: {self.slot!r} is not a replication slot name (lower-case letters, digits and _, at most 63)")
        if not self.publication.strip():
            problems.append("publication: must not be empty")
        for table in self.tables:
            if not _TABLE_NAME.match(table):
                problems.append(f"tables: {table!r} is not schema.table")
        return problems


def split_table(name: str) -> tuple[str, str]:
    """``schema.table`` (or ``table``, in schema public) as its two parts."""
    schema, _, table = name.rpartition(".")
    return (schema or "public"), table
