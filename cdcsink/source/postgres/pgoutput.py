"""pgoutput messages (logical replication protocol version 1) -> change events.

Message formats: PostgreSQL's "Logical Replication Message Formats". A
transaction arrives as Begin, its changes, Commit; Relation (and Type)
messages describe a table before its first change, and again after its
schema changed.

- A transaction's commit LSN (Begin's final LSN) is its rows' ``commit_ts``,
  so commit ts rise in commit order; its commit time is ``commit_time_ms``.
- After each Commit a :class:`~cdcsink.events.ResolvedEvent` at the commit LSN
  whose position is the commit's end LSN: once the checkpoint reaches it, the
  slot may confirm that far and a restart resumes with the next transaction.
- While idle, a keepalive's WAL end ``W`` gives a resolved event at ``W - 1``
  (every transaction committing before ``W`` was sent before the keepalive,
  and a later one's commit LSN is at least ``W``), position ``W``.
- Insert / Update / Delete become row events; the before image is what the
  replica identity gives (the key columns, or the whole old row with FULL;
  an update that kept its key has the key from the new row). Truncate becomes
  a ``TRUNCATE TABLE`` DDL event per table.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from cdcsink.codec.schema import TableSchema, table_schema
from cdcsink.decode.values import column_converter
from cdcsink.errors import InvalidEventError
from cdcsink.events import DELETE, INSERT, UPDATE, DDLEvent, ResolvedEvent, RowEvent
from cdcsink.source.postgres import types

#: Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
PG_EPOCH_MS = 946_684_800_000

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_BEGIN = struct.Struct("!qqI")
_COMMIT = struct.Struct("!bqqq")


def lsn_text(lsn: int) -> str:
    """``16/B374D848``: an LSN as PostgreSQL prints it."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class PgColumn:
    name: str
    type_oid: int
    typmod: int
    #: Part of the replica identity (the key the old image carries).
    key: bool


class Relation:
    """A table as the stream describes it, planned for building events: its
    declaration (the ``columns`` every event of this version of the table
    shares), handle key, table model and per-column value conversion."""

    __slots__ = ("schema", "table", "identity", "columns", "declared", "pk", "info", "convert", "names")

    def __init__(self, schema: str, table: str, identity: str, columns: list[PgColumn], type_names: dict[int, str]) -> None:
        self.schema = schema
        self.table = table
        #: REPLICA IDENTITY: d (default: the primary key), n (nothing), f (full), i (an index).
        self.identity = identity
        self.columns = columns
        self.names = [column.name for column in columns]
        self.pk = [column.name for column in columns if column.key] if identity in ("d", "i") else []
        self.declared: dict[str, Any] = {}
        for column in columns:
            name = type_names.get(column.type_oid) or types.BUILTIN_NAMES.get(column.type_oid) or f"oid {column.type_oid}"
            self.declared[column.name] = {
                "type": types.declare(column.type_oid, column.typmod),
                "source_type": types.source_type(column.type_oid, column.typmod, name),
            }
        self.info: TableSchema = table_schema(schema, table, self.declared, self.pk)
        self.convert: list[tuple[Callable[[str], Any], Callable[[Any], Any]]] = [
            (types.parser(column.type_oid, column.typmod), column_converter(self.info.by_name[column.name]))
            for column in columns
        ]

    def image(self, values: list[Any], keys_only: bool = False) -> dict[str, Any]:
        """Canonical values by column name from a tuple's raw values (``None``: NULL;
        :data:`UNCHANGED`: an unchanged TOASTed value, left out). ValueError names the column."""
        image: dict[str, Any] = {}
        for column, value, (parse, convert) in zip(self.columns, values, self.convert):
            if value is UNCHANGED or (keys_only and not column.key):
                continue
            try:
                image[column.name] = convert(None if value is None else parse(value))
            except ValueError as error:
                raise ValueError(f"column {column.name!r}: {error}") from None
        return image


#: A value pgoutput leaves out: an unchanged TOASTed column of an update.
UNCHANGED = object()


class PgOutputDecoder:
    """Decodes one replication stream's messages into events (keeps the relations
    and the open transaction). ``origin`` names the stream in errors."""

    def __init__(self, origin: str, last_resolved_ts: int = 0) -> None:
        self.origin = origin
        self.relations: dict[int, Relation] = {}
        self.type_names: dict[int, str] = {}
        #: The open transaction's commit LSN and time (None between transactions).
        self.commit_ts: int | None = None
        self.commit_time_ms: int | None = None
        self.last_resolved_ts = last_resolved_ts

    def decode(self, lsn: int, data: bytes, out: list[Any]) -> None:
        """Append the events of one message to ``out``; :class:`InvalidEventError`
        for a value the table model cannot hold, naming table, column and LSN."""
        kind = data[0:1]
        if kind == b"B":
            final_lsn, commit_us, _xid = _BEGIN.unpack_from(data, 1)
            self.commit_ts = final_lsn
            self.commit_time_ms = PG_EPOCH_MS + commit_us // 1000
        elif kind == b"C":
            _flags, commit_lsn, end_lsn, commit_us = _COMMIT.unpack_from(data, 1)
            self.commit_ts = None
            if commit_lsn > self.last_resolved_ts:
                self.last_resolved_ts = commit_lsn
                out.append(ResolvedEvent(commit_lsn, PG_EPOCH_MS + commit_us // 1000, {"lsn": end_lsn}))
        elif kind in (b"I", b"U", b"D"):
            self._row(kind, lsn, data, out)
        elif kind == b"R":
            self._relation(data)
        elif kind == b"Y":
            oid = _U32.unpack_from(data, 1)[0]
            namespace, at = _string(data, 5)
            name, _ = _string(data, at)
            self.type_names[oid] = name if namespace in ("pg_catalog", "") else f"{namespace}.{name}"
        elif kind == b"T":
            self._truncate(data, out)
        elif kind in (b"O", b"M"):
            pass  # origin of a replicated transaction; a logical decoding message (not requested)
        else:
            raise InvalidEventError(
                f"{self.origin}@{lsn_text(lsn)}", f"unknown pgoutput message type {kind!r} (protocol version 1 is requested)", data
            )

    def keepalive(self, wal_end: int, out: list[Any]) -> None:
        """The server's WAL end while no transaction is open: a resolved event just below it."""
        if self.commit_ts is None and wal_end - 1 > self.last_resolved_ts:
            self.last_resolved_ts = wal_end - 1
            out.append(ResolvedEvent(wal_end - 1, None, {"lsn": wal_end}))

    # -- messages -------------------------------------------------------------------

    def _relation(self, data: bytes) -> None:
        oid = _U32.unpack_from(data, 1)[0]
        namespace, at = _string(data, 5)
        name, at = _string(data, at)
        identity = chr(data[at])
        count = _I16.unpack_from(data, at + 1)[0]
        at += 3
        columns = []
        for _ in range(count):
            flags = data[at]
            column, at = _string(data, at + 1)
            type_oid, typmod = _U32.unpack_from(data, at)[0], _I32.unpack_from(data, at + 4)[0]
            at += 8
            columns.append(PgColumn(column, type_oid, typmod, bool(flags & 1)))
        try:
            self.relations[oid] = Relation(namespace, name, identity, columns, self.type_names)
        except ValueError as error:
            raise InvalidEventError(f"{self.origin}", f"{namespace}.{name}: {error}", data) from None

    def _row(self, kind: bytes, lsn: int, data: bytes, out: list[Any]) -> None:
        oid = _U32.unpack_from(data, 1)[0]
        relation = self.relations.get(oid)
        where = f"{self.origin}@{lsn_text(lsn)}"
        if relation is None:
            raise InvalidEventError(where, f"a change of relation {oid} before its Relation message", data)
        at = 5
        before: dict[str, Any] | None = None
        after: dict[str, Any] | None = None
        side = "before"
        try:
            if kind == b"I":
                side = "after"
                values, at = _tuple(data, at + 1)
                after = relation.image(values)
                op = INSERT
            elif kind == b"U":
                op = UPDATE
                marker = data[at : at + 1]
                old = None
                if marker in (b"K", b"O"):
                    old, at = _tuple(data, at + 1)
                    before = relation.image(old, keys_only=marker == b"K")
                side = "after"
                values, at = _tuple(data, at + 1)  # b"N"
                if old is not None and marker == b"O":
                    # An unchanged TOASTed value is not in the new tuple: the old row has it.
                    values = [o if v is UNCHANGED else v for v, o in zip(values, old)]
                after = relation.image(values)
                if before is None:
                    before = {name: after[name] for name in relation.pk}  # the key did not change
            else:
                op = DELETE
                marker = data[at : at + 1]
                values, at = _tuple(data, at + 1)
                before = relation.image(values, keys_only=marker == b"K")
        except ValueError as error:
            raise InvalidEventError(where, f"{relation.schema}.{relation.table}: {side}: {error}", data) from None
        assert self.commit_ts is not None, "a change outside a transaction"
        out.append(
            RowEvent(relation.schema, relation.table, self.commit_ts, op, relation.pk, relation.declared, before, after,
                     self.commit_time_ms, 0, relation.info)
        )

    def _truncate(self, data: bytes, out: list[Any]) -> None:
        count = _I32.unpack_from(data, 1)[0]
        at = 6  # count, then the options byte
        for i in range(count):
            relation = self.relations.get(_U32.unpack_from(data, at + 4 * i)[0])
            if relation is None or self.commit_ts is None:
                continue
            out.append(DDLEvent(relation.schema, relation.table, self.commit_ts,
                                f"TRUNCATE TABLE `{relation.schema}`.`{relation.table}`", self.commit_time_ms))


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode(), end + 1


def _tuple(data: bytes, at: int) -> tuple[list[Any], int]:
    """TupleData from ``at``: each value's text (None for NULL, UNCHANGED for an
    unchanged TOASTed value), and the offset after it."""
    count = _I16.unpack_from(data, at)[0]
    at += 2
    values: list[Any] = []
    append = values.append
    for _ in range(count):
        kind = data[at]
        at += 1
        if kind == 0x74:  # t: text
            size = _I32.unpack_from(data, at)[0]
            at += 4
            append(data[at : at + size].decode())
            at += size
        elif kind == 0x6E:  # n: NULL
            append(None)
        elif kind == 0x75:  # u: unchanged TOASTed value
            append(UNCHANGED)
        else:
            raise ValueError(f"tuple value kind {chr(kind)!r} (binary values are not requested)")
    return values, at


def now_ms() -> int:
    return int(time.time() * 1000)
