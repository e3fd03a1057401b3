"""The ``postgres`` source: a database's changes from a logical replication slot (pgoutput).

A replication slot is a durable, ordered input queue that keeps everything
after the position its consumer confirms. The slot's confirmed position is
this source's checkpoint and only moves through the checkpoint store
(:class:`~cdcsink.source.postgres.store.SlotStore`): once every event before
a resolved event is acknowledged by Kafka, its position (the commit's end
LSN) is stored and sent to the server as the flushed position of a standby
status update. The server never sends a transaction again whose commit lies
before it; one after it is replayed after a restart (at-least-once, in order).

Each run: make sure the publication exists, find or create the slot (with an
initial snapshot when it is new and ``snapshot: initial``), then stream from
the stored position. A status update goes out every ``status-interval`` and a
keepalive request every ``heartbeat-interval`` while nothing arrives; the
keepalive's WAL end becomes a resolved event, so on a quiet database (or one
whose changes are all in tables outside the publication) the slot keeps
advancing and WAL does not pile up behind it.

A restart during the initial snapshot starts it over: the checkpoint records
that a snapshot began, and the next run drops the slot it made and creates a
new one with a new snapshot (rows already sent are sent again). So the
snapshot's end is stored as soon as Kafka has acknowledged every snapshot row,
before streaming starts, not at the next ``checkpoint.interval``: a restart
after it keeps the slot and streams on, where a new snapshot would skip every
change made between the two.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import structlog

from cdcsink.checkpoint.store import Checkpoint, CheckpointStore, FileCheckpointStore
from cdcsink.errors import ConfigError, InvalidEventError
from cdcsink.events import ResolvedEvent, RowEvent
from cdcsink.source import SourceOutput
from cdcsink.source.postgres import connection as pg
from cdcsink.source.postgres.config import split_table
from cdcsink.source.postgres.pgoutput import PgOutputDecoder, lsn_text, now_ms, parse_lsn
from cdcsink.source.postgres.store import SlotStore

if TYPE_CHECKING:
    from cdcsink.source.config import SourceConfig

log = structlog.get_logger("cdcsink.source.postgres")

#: Messages taken from the connection per item handed to the pipeline.
BATCH_MESSAGES = 2000
#: How long a run waits for a slot an earlier, killed process still holds to be released.
SLOT_RELEASE_WAIT_S = 15.0
#: How long the end of the initial snapshot waits for Kafka to acknowledge its rows before streaming.
SNAPSHOT_ACK_WAIT_S = 300.0


class Messages:
    """Replication messages read together: ``(lsn, payload)``, or ``(wal_end, None)`` for a keepalive."""

    __slots__ = ("messages", "read_at")

    def __init__(self, messages: list[tuple[int, bytes | None]]) -> None:
        self.messages = messages
        self.read_at = time.monotonic()


class Rows:
    """Events already built (the initial snapshot)."""

    __slots__ = ("events", "read_at")

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.read_at = time.monotonic()


class PostgresSource:
    """Reads a publication's changes through a logical replication slot."""

    def __init__(self, config: "SourceConfig", client_id: str = "cdcsink") -> None:
        self.config = config
        self.dsn: str = config.dsn or ""
        self.where = pg.describe_dsn(self.dsn)
        self.description = f"{self.where} slot {config.slot}"
        self.origin = f"postgres slot {config.slot}"
        self.store: SlotStore | None = None
        self.decoder = PgOutputDecoder(self.origin)
        #: Bytes of WAL the slot's confirmed position is behind the server's current WAL.
        self.lag_bytes = 0.0
        self._replication: Any = None
        self._cursor: Any = None
        self._admin: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._confirmed = 0

    @classmethod
    def from_config(cls, config: "SourceConfig", client_id: str = "cdcsink") -> "PostgresSource":
        return cls(config, client_id)

    # -- source interface --------------------------------------------------------------

    def checkpoint_store(self, configured: Callable[[], CheckpointStore]) -> CheckpointStore:
        store = configured()
        assert isinstance(store, FileCheckpointStore)
        self.store = SlotStore(store, self)
        return self.store

    def start_from(self, stored: Checkpoint | None, store: str) -> Checkpoint | None:
        if stored is not None and stored.position and "lsn" in stored.position:
            log.info("resuming from the checkpoint", slot=self.config.slot, lsn=lsn_text(stored.position["lsn"]),
                     checkpoint_ts=stored.checkpoint_ts, store=store)
        return stored

    async def read(self, start: Checkpoint | None, out: SourceOutput) -> AsyncIterator[Messages | Rows]:
        config = self.config
        position = (start.position if start else None) or {}
        self.decoder = PgOutputDecoder(self.origin, start.checkpoint_ts if start else 0)
        out.metrics.observe("cdcsink_source_lag_bytes", lambda: self.lag_bytes)
        self._admin = await pg.run(self.dsn, "cannot connect", pg.connect, self.dsn)
        await pg.run(self.dsn, "publication", self._ensure_publication)
        slot = await pg.run(self.dsn, "replication slot", self._slot)
        if slot is not None and position.get("snapshot") == "started":
            log.warning("the initial snapshot was interrupted; starting it over with a new slot", slot=config.slot)
            await self._drop_slot()
            slot = None
        self._replication = await pg.run(self.dsn, "cannot connect (replication)", lambda: pg.connect(self.dsn, replication=True))
        start_lsn = position.get("lsn", 0)
        if slot is None:
            if not config.create_slot:
                raise ConfigError(f"source.slot: replication slot {config.slot!r} does not exist on {self.where} "
                                  "and source.create-slot is false")
            if config.snapshot == "initial":
                async for rows in self._snapshot():
                    yield rows
                start_lsn = self._snapshot_lsn
                await self._record_snapshot_end(out, start_lsn)
            else:
                start_lsn = await self._create_slot(export=False)
        elif start is None and config.snapshot == "initial":
            raise ConfigError(
                f"source.snapshot: initial needs a new slot, but slot {config.slot!r} exists on {self.where} and no "
                f"checkpoint records a finished snapshot; drop the slot "
                f"(SELECT pg_drop_replication_slot('{config.slot}')) or set source.snapshot: never"
            )
        async for messages in self._stream(start_lsn):
            yield messages

    async def take(self, item: Messages | Rows, out: SourceOutput) -> InvalidEventError | None:
        if type(item) is Rows:
            await out.process(item.events, item.read_at)
            return None
        events: list[Any] = []
        decoder = self.decoder
        for lsn, payload in item.messages:  # type: ignore[union-attr]
            if payload is None:
                decoder.keepalive(lsn, events)
                continue
            try:
                decoder.decode(lsn, payload, events)
            except InvalidEventError as invalid:
                out.count_invalid(invalid)
                if out.dead_letter is None:
                    await out.process(events, item.read_at)
                    log.error("invalid change; stopping", origin=invalid.origin, reason=invalid.reason)
                    return invalid
                await out.dead_letter.put(invalid)
                log.warning("invalid change set aside", origin=invalid.origin, reason=invalid.reason,
                            dead_letter=out.dead_letter.description)
        await out.process(events, item.read_at)
        return None

    async def finish(self, out: SourceOutput, stopped: bool) -> None:
        """Nothing to place: the position only moves with each commit's resolved event."""

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._replication is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._replication.fileno())
            except Exception:
                pass
        replication, admin = self._replication, self._admin
        self._replication = self._cursor = self._admin = None
        await asyncio.to_thread(pg.close_quietly, replication)
        await asyncio.to_thread(pg.close_quietly, admin)

    # -- confirming (the checkpoint store) ---------------------------------------------------

    def confirm(self, lsn: int) -> None:
        """Tell the server everything before ``lsn`` is delivered: its flushed position."""
        self._confirmed = max(self._confirmed, lsn)
        cursor = self._cursor
        if cursor is not None:
            cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)

    # -- set-up ---------------------------------------------------------------------------

    def _ensure_publication(self) -> None:
        config, admin = self.config, self._admin
        if pg.query(admin, "SELECT 1 FROM pg_publication WHERE pubname = %s", (config.publication,)):
            return
        if not config.create_publication:
            raise ConfigError(f"source.publication: publication {config.publication!r} does not exist on {self.where} "
                              "and source.create-publication is false")
        from psycopg2 import sql

        if config.tables:
            tables = sql.SQL(", ").join(sql.Identifier(*split_table(t)) for t in config.tables)
            statement = sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(config.publication), tables)
        else:
            statement = sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(config.publication))
        pg.query(admin, statement)
        log.info("publication created", publication=config.publication, tables=config.tables or "all")

    def _slot(self) -> tuple[Any, ...] | None:
        rows = pg.query(
            self._admin,
            "SELECT plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (self.config.slot,),
        )
        if not rows:
            return None
        plugin, database, _ = rows[0]
        current = pg.query(self._admin, "SELECT current_database()")[0][0]
        if plugin != "pgoutput" or database != current:
            raise ConfigError(f"source.slot: slot {self.config.slot!r} on {self.where} is not a pgoutput slot of "
                              f"database {current} (plugin {plugin}, database {database})")
        return rows[0]

    async def _drop_slot(self) -> None:
        """Drop the slot, waiting a little for a killed process's connection to let it go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SLOT_RELEASE_WAIT_S
        while True:
            active = await pg.run(self.dsn, "replication slot", pg.query, self._admin,
                                  "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (self.config.slot,))
            if not active:
                return
            if active[0][0] is None:
                await pg.run(self.dsn, "drop replication slot", pg.query, self._admin,
                             "SELECT pg_drop_replication_slot(%s)", (self.config.slot,))
                return
            if loop.time() >= deadline:
                raise pg.PostgresUnavailableError(
                    f"{self.where}: replication slot {self.config.slot!r} is in use by process {active[0][0]}")
            await asyncio.sleep(0.2)

    async def _create_slot(self, *, export: bool) -> int:
        """Create the slot; its consistent point (and exported snapshot, kept in ``_snapshot_name``)."""
        mode = "export" if export else "nothing"
        statement = f"CREATE_REPLICATION_SLOT {self.config.slot} LOGICAL pgoutput (SNAPSHOT '{mode}')"

        def create() -> tuple[Any, ...]:
            with self._replication.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchone()

        _, consistent_point, snapshot_name, _ = await pg.run(self.dsn, "create replication slot", create)
        self._snapshot_name = snapshot_name
        log.info("replication slot created", slot=self.config.slot, consistent_point=consistent_point,
                 snapshot=bool(snapshot_name))
        return parse_lsn(consistent_point)

    # -- snapshot -------------------------------------------------------------------------

    async def _snapshot(self) -> AsyncIterator[Rows]:
        """The new slot's snapshot of every published table, then a resolved event at its end."""
        from cdcsink.source.postgres import snapshot

        assert self.store is not None
        # Recorded first: a run that dies before the snapshot ends starts it over (see the module docstring).
        await asyncio.to_thread(self.store.file.write, Checkpoint(0, {"snapshot": "started", "slot": self.config.slot}))
        consistent = await self._create_slot(export=True)
        reader = await pg.run(self.dsn, "cannot connect (snapshot)", pg.connect, self.dsn)
        try:
            await pg.run(self.dsn, "import the slot's snapshot", snapshot.begin, reader, self._snapshot_name)
            tables = await pg.run(self.dsn, "publication tables", snapshot.publication_tables, reader, self.config.publication)
            ts, commit_time_ms, total = consistent - 1, now_ms(), 0
            log.info("initial snapshot started", tables=len(tables), consistent_point=lsn_text(consistent))
            for schema, table in tables:
                relation = await pg.run(self.dsn, f"describe {schema}.{table}", snapshot.describe, reader, schema, table)
                batches = snapshot.rows(reader, schema, table)
                while True:
                    batch = await pg.run(self.dsn, f"read {schema}.{table}", next, batches, None)
                    if batch is None:
                        break
                    events = []
                    for row in batch:
                        try:
                            after = relation.image(list(row))
                        except ValueError as error:
                            raise InvalidEventError(f"{self.origin} snapshot", f"{schema}.{table}: after: {error}") from None
                        events.append(RowEvent(schema, table, ts, "insert", relation.pk, relation.declared, None, after,
                                               commit_time_ms, 0, relation.info))
                    total += len(events)
                    yield Rows(events)
            await pg.run(self.dsn, "end the snapshot", reader.rollback)
            log.info("initial snapshot read", rows=total, tables=len(tables))
            self.decoder.last_resolved_ts = max(self.decoder.last_resolved_ts, ts)
            yield Rows([ResolvedEvent(ts, commit_time_ms, {"lsn": consistent})])
        finally:
            await asyncio.to_thread(pg.close_quietly, reader)
        self._snapshot_lsn = consistent

    async def _record_snapshot_end(self, out: SourceOutput, consistent: int) -> None:
        """Store the snapshot's end as soon as Kafka has acknowledged every snapshot row.

        Until a checkpoint replaces it, the store says the snapshot only started, and a
        restart drops the slot and takes a new snapshot: the changes streamed since the
        first one would then never be sent, only the rows as the new snapshot finds them.
        So this checkpoint is not left to ``checkpoint.interval``. When delivery fails
        (or takes longer than :data:`SNAPSHOT_ACK_WAIT_S`) nothing is stored here: the
        snapshot is not known to be delivered, and the regular checkpoint takes over.
        """
        assert self.store is not None
        await out.after_chunk(idle=True)
        if not await out.wait_acked(SNAPSHOT_ACK_WAIT_S):
            log.warning("the initial snapshot is not acknowledged yet; its end is stored with the next checkpoint",
                        slot=self.config.slot, consistent_point=lsn_text(consistent))
            return
        await self.store.save(Checkpoint(consistent - 1, {"lsn": consistent}))
        log.info("initial snapshot acknowledged; checkpoint stored", slot=self.config.slot,
                 consistent_point=lsn_text(consistent))

    # -- streaming ------------------------------------------------------------------------

    async def _stream(self, start_lsn: int) -> AsyncIterator[Messages]:
        config = self.config
        replication = self._replication
        cursor = replication.cursor()

        def start() -> None:
            cursor.start_replication(
                slot_name=config.slot,
                decode=False,
                start_lsn=start_lsn,
                options={"proto_version": "1", "publication_names": config.publication},
                status_interval=config.status_interval,
            )

        await pg.run(self.dsn, "start replication", start)
        self._cursor = cursor
        if self._confirmed:
            self.confirm(self._confirmed)
        log.info("streaming changes", slot=config.slot, publication=config.publication, start_lsn=lsn_text(start_lsn))
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._report_status(), name="postgres-status"))
        self._tasks.append(loop.create_task(self._watch_lag(), name="postgres-lag"))
        readable = asyncio.Event()
        loop.add_reader(replication.fileno(), readable.set)
        wal_end = 0
        quiet_since = loop.time()
        import psycopg2

        while True:
            batch: list[tuple[int, bytes | None]] = []
            try:
                while len(batch) < BATCH_MESSAGES:
                    message = cursor.read_message()
                    if message is None:
                        break
                    batch.append((message.data_start, message.payload))
            except psycopg2.Error as error:
                raise pg.connection_error(self.dsn, error, "replication stream") from None
            if batch:
                quiet_since = loop.time()
                yield Messages(batch)
                continue
            if cursor.wal_end > wal_end:
                wal_end = cursor.wal_end
                yield Messages([(wal_end, None)])
            readable.clear()
            waited = loop.time() - quiet_since
            try:
                await asyncio.wait_for(readable.wait(), max(0.0, config.heartbeat_interval - waited))
            except asyncio.TimeoutError:
                quiet_since = loop.time()
                try:
                    cursor.send_feedback(reply=True)  # the server answers with a keepalive: its WAL end
                except psycopg2.Error as error:
                    raise pg.connection_error(self.dsn, error, "replication stream") from None

    async def _report_status(self) -> None:
        """A status update every status-interval, also while the pipeline applies backpressure."""
        while True:
            await asyncio.sleep(self.config.status_interval)
            cursor = self._cursor
            if cursor is not None:
                try:
                    cursor.send_feedback(force=True)
                except Exception as error:  # the stream reader reports the lost connection
                    log.debug("status update failed", error=str(error))

    async def _watch_lag(self) -> None:
        """``cdcsink_source_lag_bytes``: the server's current WAL minus the slot's confirmed position."""
        statement = ("SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                     "WHERE slot_name = %s")
        while True:
            try:
                rows = await asyncio.to_thread(pg.query, self._admin, statement, (self.config.slot,))
                if rows and rows[0][0] is not None:
                    self.lag_bytes = float(rows[0][0])
            except Exception as error:
                log.debug("reading the slot's lag failed", error=str(error))
            await asyncio.sleep(min(self.config.status_interval, 5.0))
