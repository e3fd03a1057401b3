"""The postgres source against a real PostgreSQL (a cluster of the tests' own, see
cdcsink/devtools/postgres.py) and the dev broker: every change arrives in Kafka in per-key order,
the slot's confirmed position never covers a change Kafka has not acknowledged,
and restarts, broker outages, idle periods and the initial snapshot lose nothing.

The daemon runs as a subprocess; a fault proxy between it and the broker records
which output messages the broker acknowledged, and a watcher samples the slot's
``confirmed_flush_lsn`` every few milliseconds and checks each sample against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from cdcsink.devtools.broker import free_port
from cdcsink.devtools.readback import read_back
from tests.conftest import broker_to_front
from tests.faultproxy import AckLedger, FaultProxy
from tests.integration.test_daemon import metric, scrape
from cdcsink.devtools.postgres import PostgresServer

pytestmark = [pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]
OUT_PARTITIONS = 2


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def identity(value: bytes) -> tuple | None:
    """An output row as (table, id, op, v, commit_ts); None for watermarks and DDL."""
    msg = orjson.loads(value)
    if msg["type"] == "TIDB_WATERMARK" or msg["isDdl"]:
        return None
    row = msg["data"][0]
    return (msg["table"], row["id"], msg["type"], row.get("v"), msg["_tidb"]["commitTs"])


class AckOrder(set):
    """The ledger's acknowledged rows, remembering in which order they were acknowledged."""

    def __init__(self) -> None:
        super().__init__()
        self.order: dict[tuple, int] = {}

    def update(self, ids) -> None:  # type: ignore[override]
        for ident in ids:
            self.order.setdefault(ident, len(self.order))
        super().update(ids)


class Feed:
    """A database, the broker behind a fault proxy, and the daemon reading the one into the other."""

    def __init__(self, postgres: PostgresServer, tmp: Path, name: str, **env: str) -> None:
        self.pg = postgres
        self.tmp = tmp
        self.name = name
        self.database = name
        self.slot = f"s_{name}"
        self.env = env
        self.ledger = AckLedger(identity)
        self.ledger.acked = AckOrder()
        self.daemon: subprocess.Popen[bytes] | None = None
        self.http_port = free_port()
        #: (the slot's confirmed_flush_lsn, rows acknowledged by Kafka just after reading it)
        self.samples: list[tuple[int, int]] = []
        self._brokers = contextlib.ExitStack()
        self._sampling = False

    async def __aenter__(self) -> "Feed":
        self.dsn = self.pg.create_database(self.database)
        self.proxy = await FaultProxy(self._brokers.enter_context(broker_to_front(self.tmp)), self.ledger).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._sampling = False
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        await self.proxy.stop()
        self._brokers.close()
        with contextlib.suppress(Exception):
            self.pg.execute(self.database, f"SELECT pg_drop_replication_slot('{self.slot}')")

    def sql(self, *statements: str, args: Any = None) -> list[tuple[Any, ...]]:
        return self.pg.execute(self.database, *statements, args=args)

    def start(self, **extra: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        env.update(
            PYTHONPATH=str(ROOT),
            CDCSINK_CHANGEFEED=self.name,
            CDCSINK_SOURCE__TYPE="postgres",
            CDCSINK_SOURCE__DSN=self.dsn,
            CDCSINK_SOURCE__SLOT=self.slot,
            CDCSINK_SOURCE__PUBLICATION=f"p_{self.name}",
            CDCSINK_SOURCE__HEARTBEAT_INTERVAL="200ms",
            CDCSINK_SOURCE__STATUS_INTERVAL="1s",
            CDCSINK_SINK__URI=(
                f"kafka://127.0.0.1:{self.proxy.port}/{self.name}?protocol=canal-json&enable-tidb-extension=true"
                f"&partition-num={OUT_PARTITIONS}"
            ),
            CDCSINK_SINK__DISPATCHERS=json.dumps(
                [{"matcher": ["*.*"], "topic": self.name + "_{table}", "partition": "index-value"}]
            ),
            CDCSINK_CHECKPOINT__INTERVAL="100ms",
            CDCSINK_CHECKPOINT__STORE=str(self.tmp / f"{self.name}.json"),
            CDCSINK_HTTP__PORT=str(self.http_port),
            CDCSINK_LOG__FORMAT="json",
            CDCSINK_RESTART__BACKOFF_MIN="200ms",
            CDCSINK_RESTART__BACKOFF_MAX="1s",
        )
        env.update(self.env)
        env.update(extra)
        with (self.tmp / f"{self.name}.log").open("ab") as out:
            self.daemon = subprocess.Popen([sys.executable, "-m", "cdcsink", "run"], env=env, stdout=out, stderr=out)
        return self.daemon

    def log(self) -> str:
        return (self.tmp / f"{self.name}.log").read_text()

    async def logged(self, event: str, times: int = 1, timeout: float = 60.0) -> None:
        """Wait until the daemon has logged ``event`` ``times`` times."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.log().count(f'"event": "{event}"') < times:
            self.check_alive()
            assert loop.time() < deadline, f"never logged {event!r}:\n{self.log()[-3000:]}"
            await asyncio.sleep(0.05)

    def current_lsn(self) -> int:
        return int(self.sql("SELECT pg_current_wal_lsn() - '0/0'")[0][0])

    def confirmed(self) -> int:
        slot = self.pg.slot(self.database, self.slot)
        return slot[0] if slot else 0

    async def caught_up(self, timeout: float = 60.0) -> None:
        """Wait until the slot's confirmed position reaches the server's current WAL as it is now."""
        target = self.current_lsn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.confirmed() < target:
            self.check_alive()
            assert loop.time() < deadline, f"slot at {self.confirmed()}, WAL at {target}:\n{self.log()[-3000:]}"
            await asyncio.sleep(0.05)

    def check_alive(self) -> None:
        daemon = self.daemon
        if daemon is not None and daemon.poll() is not None and daemon.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"daemon exited {daemon.returncode}:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        assert self.daemon is not None
        self.daemon.send_signal(signal.SIGKILL)
        self.daemon.wait()

    async def stop(self) -> None:
        assert self.daemon is not None
        self.daemon.send_signal(signal.SIGTERM)
        for _ in range(600):
            if self.daemon.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert self.daemon.returncode == 0, self.log()[-3000:]

    # -- the slot never ahead of Kafka ---------------------------------------------------

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        """Sample the slot's confirmed position in a thread during the block, each with how
        many output rows Kafka had acknowledged right after it (see :meth:`check_samples`)."""
        self._sampling = True

        def watch() -> None:
            import psycopg2

            connection = psycopg2.connect(self.pg.dsn(self.database))
            connection.autocommit = True
            cursor = connection.cursor()
            while self._sampling:
                cursor.execute("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                               (self.slot,))
                row = cursor.fetchone()
                acked = len(self.ledger.acked.order)  # read after the sample
                if row is not None and row[0] is not None:
                    self.samples.append((int(row[0]), acked))
                threading.Event().wait(0.005)
            connection.close()

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._sampling = False
            thread.join()

    def check_samples(self, messages: list[tuple]) -> int:
        """Every row committed before a sampled confirmed position was acknowledged before the sample."""
        order = self.ledger.acked.order
        rows = [identity(orjson.dumps(msg)) for *_, msg in messages]
        rows = [r for r in rows if r is not None]
        checked = 0
        for confirmed, acked in self.samples:
            for row in rows:
                if row[4] < confirmed:
                    assert order.get(row, acked) < acked, (
                        f"the slot confirmed {confirmed} before Kafka acknowledged {row} (commit {row[4]})")
                    checked += 1
        return checked

    async def output(self, tables: list[str]) -> list[tuple]:
        expected = {(f"{self.name}_{t}", p): 10**9 for t in tables for p in range(OUT_PARTITIONS)}
        records = await read_back(f"127.0.0.1:{self.proxy.port}", expected, idle_timeout=1.5)
        out = []
        for (topic, partition), recs in records.items():
            for rec in recs:
                msg = orjson.loads(rec.value)
                out.append((topic, partition, rec.offset, msg))
        return out


def rows_by_key(messages: list[tuple]) -> dict[tuple[str, str], list[tuple[str, Any, int]]]:
    """Per (table, id): (type, data row, commit ts) in the order delivered."""
    out: dict[tuple[str, str], list[tuple[str, Any, int]]] = defaultdict(list)
    for topic, partition, offset, msg in sorted(messages, key=lambda m: (m[0], m[1], m[2])):
        if msg["type"] == "TIDB_WATERMARK" or msg["isDdl"]:
            continue
        row = msg["data"][0]
        out[(msg["table"], row["id"])].append((msg["type"], row, msg["_tidb"]["commitTs"]))
    return out


def dedup(deliveries: list[tuple[str, Any, int]]) -> list[tuple[str, Any, int]]:
    """A key's deliveries without the replays a restart causes: each (type, row, ts) once, first copy kept,
    and the kept sequence must be what was delivered with every replay run cut out."""
    seen: set[tuple] = set()
    out = []
    for kind, row, ts in deliveries:
        key = (kind, json.dumps(row, sort_keys=True), ts)
        if key in seen:
            continue
        seen.add(key)
        out.append((kind, row, ts))
    return out


def final_state(by_key: dict[tuple[str, str], list[tuple[str, Any, int]]], table: str) -> dict[str, str | None]:
    """id -> v after applying each key's deliveries in order (a deleted key is absent)."""
    state: dict[str, str | None] = {}
    for (t, key), deliveries in by_key.items():
        if t != table:
            continue
        kind, row, _ = deliveries[-1]
        if kind == "DELETE":
            state.pop(key, None)
        else:
            state[key] = row.get("v")
    return state


def check_order(by_key: dict[tuple[str, str], list[tuple[str, Any, int]]]) -> None:
    """Per key: after replays are dropped, v counts up by one with each change, in commit order."""
    for key, deliveries in by_key.items():
        kept = dedup(deliveries)
        commit_ts = [ts for _, _, ts in kept]
        assert commit_ts == sorted(commit_ts), (key, kept[:5])
        values = [int(row["v"]) for kind, row, _ in kept if kind != "DELETE" and row.get("v") is not None]
        assert values == list(range(values[0], values[0] + len(values))), (key, values[:20])


TYPES_TABLE = """
CREATE TABLE all_types (
  id int PRIMARY KEY, v int,
  c_bool boolean, c_int2 smallint, c_int8 bigint, c_oid oid, c_real real, c_double double precision,
  c_numeric numeric(10,2), c_numeric_free numeric, c_text text, c_varchar varchar(20), c_char char(3),
  c_bytea bytea, c_date date, c_ts timestamp(3), c_tstz timestamptz, c_time time, c_json json, c_jsonb jsonb,
  c_uuid uuid, c_bit bit(8), c_interval interval, c_inet inet, c_array int[], c_mood mood
)"""
TYPES_ROW = """
INSERT INTO all_types VALUES (1, 0, true, -32768, 9223372036854775807, 4294967295, 0.1, 2.5,
  9.9, 1.50, 'é😀', 'abc', 'ab', '\\x00ff', '2024-02-29', '2025-11-22 10:00:00.5', '2025-11-22 10:00:00+02',
  '23:59:59.5', '{"b": [1, 2.5], "a": null}', '{"b": 1, "a": "x"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  B'10000001', '1 day 02:00:00', '10.0.0.1/8', '{1,2,3}', 'happy')"""
EXPECTED_TYPES = {
    "c_bool": ("1", "tinyint"), "c_int2": ("-32768", "smallint"), "c_int8": ("9223372036854775807", "bigint"),
    "c_oid": ("4294967295", "int unsigned"), "c_real": ("0.1", "float"), "c_double": ("2.5", "double"),
    "c_numeric": ("9.90", "decimal"), "c_numeric_free": ("1.50", "longtext"), "c_text": ("é😀", "longtext"),
    "c_varchar": ("abc", "varchar"), "c_char": ("ab ", "char"), "c_bytea": ("\u0000ÿ", "longblob"),
    "c_date": ("2024-02-29", "date"), "c_ts": ("2025-11-22 10:00:00.500", "datetime"),
    "c_tstz": ("2025-11-22 08:00:00.000000", "timestamp"), "c_time": ("23:59:59.500000", "time"),
    "c_json": ('{"a": null, "b": [1, 2.5]}', "json"), "c_jsonb": ('{"a": "x", "b": 1}', "json"),
    "c_uuid": ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "char"), "c_bit": ("129", "bit"),
    "c_interval": ("1 day 02:00:00", "longtext"), "c_inet": ("10.0.0.1/8", "longtext"), "c_array": ("{1,2,3}", "longtext"),
    "c_mood": ("happy", "longtext"),
}


async def test_every_change_of_several_tables_arrives_in_order_and_the_slot_never_passes_an_unacked_one(postgres, tmp_path, unique):
    async with Feed(postgres, tmp_path, f"pg{unique}") as feed:
        feed.sql(
            "CREATE TYPE mood AS ENUM ('sad', 'happy')",
            TYPES_TABLE,
            "CREATE TABLE t1 (id int PRIMARY KEY, v int)",
            "CREATE TABLE t2 (id bigint PRIMARY KEY, v int, note text)",
            "CREATE TABLE nopk (id int, v int)",
            "ALTER TABLE nopk REPLICA IDENTITY FULL",
            "CREATE TABLE gone (id int PRIMARY KEY, v int)",
        )
        feed.start()
        await feed.logged("streaming changes")
        with feed.sampling():
            feed.sql(TYPES_ROW, "INSERT INTO gone SELECT g, 0 FROM generate_series(1, 50) g")
            # Multi-statement transactions over several tables.
            for k in range(150):
                feed.sql(
                    f"BEGIN; INSERT INTO t1 VALUES ({k}, 0); INSERT INTO t2 VALUES ({k}, 0, 'n{k}');"
                    f" INSERT INTO nopk VALUES ({k % 20}, {k // 20}); UPDATE t1 SET v = v + 1 WHERE id = {k // 2};"
                    f" COMMIT"
                )
            # A large transaction.
            feed.sql("INSERT INTO t1 SELECT g, 0 FROM generate_series(1000, 25999) g")
            # Updates, a key change, deletes, a schema change mid-stream, TRUNCATE.
            feed.sql("UPDATE t2 SET v = v + 1 WHERE id < 100", "DELETE FROM t2 WHERE id >= 140",
                     "UPDATE t1 SET v = v + 1 WHERE id >= 1000 AND id < 1100")
            feed.sql("ALTER TABLE t2 ADD COLUMN extra text", "UPDATE t2 SET v = v + 1, extra = 'x' || id WHERE id < 10")
            feed.sql("TRUNCATE gone", "INSERT INTO gone VALUES (7, 0)")
            await feed.caught_up()
        messages = await feed.output(["all_types", "t1", "t2", "nopk", "gone"])
        by_key = rows_by_key(messages)
        check_order({k: v for k, v in by_key.items() if k[0] not in ("nopk", "gone")})
        assert feed.samples and feed.check_samples(messages) > 0
        for table in ("t1", "t2"):
            expected = {str(i): str(v) for i, v in feed.sql(f"SELECT id, v FROM {table}")}
            assert final_state(by_key, table) == expected, table
        assert len([k for k in by_key if k[0] == "t1"]) == 25150
        # The schema change: rows after it carry the new column.
        extra = [row for kind, row, _ in by_key[("t2", "3")] if "extra" in row]
        assert extra and extra[-1]["extra"] == "x3"
        # A table without a primary key (REPLICA IDENTITY FULL): every insert, no handle key.
        assert sum(len(d) for k, d in by_key.items() if k[0] == "nopk") == 150
        # TRUNCATE is a DDL event between the rows before and after it.
        gone = sorted((m for m in messages if m[0].endswith("_gone") and m[3]["type"] != "TIDB_WATERMARK"),
                      key=lambda m: (m[1], m[2]))
        ddl = [m[3] for m in gone if m[3]["isDdl"]]
        assert ddl and ddl[0]["sql"] == "TRUNCATE TABLE `public`.`gone`" and ddl[0]["type"] == "TRUNCATE"
        for partition in range(OUT_PARTITIONS):
            kinds = [("ddl" if m[3]["isDdl"] else m[3]["_tidb"]["commitTs"]) for m in gone if m[1] == partition]
            if "ddl" in kinds:
                cut = kinds.index("ddl")
                assert all(ts < ddl[0]["_tidb"]["commitTs"] for ts in kinds[:cut] if ts != "ddl")
                assert all(ts > ddl[0]["_tidb"]["commitTs"] for ts in kinds[cut + 1:] if ts != "ddl")
        assert len(by_key[("gone", "7")]) == 2  # before the TRUNCATE, and after it
        # Every column type, as the canal-json consumer reads it.
        (msg,) = [m[3] for m in messages if m[0].endswith("_all_types") and not m[3]["isDdl"] and m[3]["type"] == "INSERT"]
        got = {c: (msg["data"][0][c], msg["mysqlType"][c]) for c in EXPECTED_TYPES}
        assert got == EXPECTED_TYPES
        for column, (value, mysql_type) in EXPECTED_TYPES.items():
            assert (msg["data"][0][column], msg["mysqlType"][column]) == (value, mysql_type), column
        # Commit ts are commit LSNs, rising in commit order; the slot only ever covered acked rows.
        assert feed.samples and feed.check_samples(messages) > 0
        await feed.stop()


async def write_counters(feed: Feed, keys: int, rounds: int, pause: float = 0.0) -> None:
    """``rounds`` transactions, each inserting or bumping ``v`` of every key in table c (in a thread)."""

    def run() -> None:
        import psycopg2
        import time

        connection = psycopg2.connect(feed.pg.dsn(feed.database))
        try:
            with connection.cursor() as cursor:
                for r in range(rounds):
                    cursor.execute(
                        "INSERT INTO c SELECT g, 0 FROM generate_series(1, %s) g ON CONFLICT (id) DO UPDATE SET v = c.v + 1",
                        (keys,),
                    )
                    connection.commit()
                    if pause:
                        time.sleep(pause)
        finally:
            connection.close()

    await asyncio.to_thread(run)


# 5s: the kill comes before the first periodic checkpoint, so the slot and the store hold no more
# than the end of the initial snapshot (of an empty table); the restart must stream on from there.
@pytest.mark.parametrize("checkpoint_interval", ["100ms", "5s"])
async def test_kill_9_mid_stream_and_a_broker_outage_lose_nothing_and_replay_only_after_the_slot(
    postgres, tmp_path, unique, checkpoint_interval
):
    async with Feed(postgres, tmp_path, f"pk{unique}") as feed:
        feed.sql("CREATE TABLE c (id int PRIMARY KEY, v int)")
        feed.start(CDCSINK_CHECKPOINT__INTERVAL=checkpoint_interval)
        await feed.logged("streaming changes")
        with feed.sampling():
            writer = asyncio.create_task(write_counters(feed, 200, 150, pause=0.01))
            await asyncio.sleep(1.0)
            feed.kill()  # kill -9 mid-stream
            killed_at = feed.confirmed()
            feed.start(CDCSINK_SINK__WRITE_TIMEOUT="1s", CDCSINK_SINK__READ_TIMEOUT="1s",  # a request times out within the outage
                   CDCSINK_CHECKPOINT__INTERVAL=checkpoint_interval)
            await asyncio.sleep(1.0)
            feed.proxy.drop()  # the broker goes away while the database writes on
            feed.proxy.blackhole()
            # Changes keep coming during the outage whether or not the first writer is done,
            # so a batch is in flight when the broker stops answering.
            during_outage = asyncio.create_task(write_counters(feed, 200, 30, pause=0.05))
            await asyncio.sleep(3.0)
            feed.proxy.heal()
            await asyncio.gather(writer, during_outage)
            await feed.caught_up(timeout=90)
        messages = await feed.output(["c"])
        by_key = rows_by_key(messages)
        check_order(by_key)
        assert final_state(by_key, "c") == {str(i): str(v) for i, v in feed.sql("SELECT id, v FROM c")}
        # Replays start after the slot's position at the kill: no row committed before it came twice.
        for deliveries in by_key.values():
            seen = [ts for _, _, ts in deliveries if ts < killed_at]
            assert len(seen) == len(set(seen))
        if checkpoint_interval == "5s":  # nothing confirmed before the kill: it must replay what Kafka had
            assert any(len(d) > len(dedup(d)) for d in by_key.values()), "the kill replayed nothing: it came too late"
        assert feed.check_samples(messages) > 0
        log = feed.log()
        assert "pipeline failed; restarting from the checkpoint" in log  # the outage
        # The snapshot had ended when the kill came: the restart kept the slot and took no new snapshot.
        assert log.count('"event": "replication slot created"') == 1
        await feed.stop()


async def test_a_quiet_publication_still_advances_the_slot_and_the_lag_metric_shows_it(postgres, tmp_path, unique):
    async with Feed(postgres, tmp_path, f"pq{unique}") as feed:
        feed.sql("CREATE TABLE watched (id int PRIMARY KEY, v int)", "CREATE TABLE busy (id int PRIMARY KEY, v int)")
        feed.start(CDCSINK_SOURCE__TABLES="public.watched")
        await feed.logged("streaming changes")
        feed.sql("INSERT INTO watched VALUES (1, 0)")
        await feed.caught_up()
        # Only tables outside the publication change: no transaction reaches the daemon,
        # yet the slot follows the WAL (heartbeats), so nothing piles up behind it.
        for _ in range(5):
            feed.sql("INSERT INTO busy SELECT g, 0 FROM generate_series(1, 2000) g ON CONFLICT (id) DO UPDATE SET v = busy.v + 1")
        target = feed.current_lsn()
        await feed.caught_up(timeout=30)
        assert feed.confirmed() >= target
        values = scrape(feed.http_port)
        assert metric(values, "cdcsink_source_lag_bytes") < 1_000_000
        assert metric(values, "cdcsink_resolved_ts") >= target - 1
        messages = await feed.output(["watched"])
        assert [m[3]["data"][0]["id"] for m in messages if m[3]["type"] == "INSERT"] == ["1"]
        await feed.stop()


async def test_the_initial_snapshot_hands_over_to_the_stream_with_no_gap_and_no_duplicate(postgres, tmp_path, unique):
    async with Feed(postgres, tmp_path, f"ps{unique}") as feed:
        feed.sql("CREATE TABLE c (id int PRIMARY KEY, v int)", "INSERT INTO c SELECT g, 0 FROM generate_series(1, 20000) g")
        writer = asyncio.create_task(write_counters(feed, 300, 200, pause=0.005))  # writes during the snapshot
        await asyncio.sleep(0.2)
        feed.start()
        await feed.logged("initial snapshot read")
        await writer
        await feed.caught_up()
        messages = await feed.output(["c"])
        by_key = rows_by_key(messages)
        check_order(by_key)
        # No duplicate: one delivery per change (no restart happened), and the final state matches.
        assert all(len(d) == len(dedup(d)) for d in by_key.values())
        assert final_state(by_key, "c") == {str(i): str(v) for i, v in feed.sql("SELECT id, v FROM c")}
        assert len(by_key) == 20000
        # Snapshot rows are declared as streamed ones are: same handle key, same types.
        rows = [m[3] for m in messages if m[3]["type"] != "TIDB_WATERMARK"]
        assert {(tuple(m["pkNames"]), m["mysqlType"]["id"], m["mysqlType"]["v"]) for m in rows} == {(("id",), "int", "int")}
        snapshot_ts = {ts for d in by_key.values() for kind, _, ts in d[:1] if kind == "INSERT"}
        assert min(snapshot_ts) < min(ts for d in by_key.values() for _, _, ts in d[1:] or [(0, 0, 2**63)])
        await feed.stop()


async def test_a_restart_during_the_snapshot_starts_it_over_with_a_new_slot(postgres, tmp_path, unique):
    async with Feed(postgres, tmp_path, f"pr{unique}") as feed:
        feed.sql("CREATE TABLE c (id int PRIMARY KEY, v int)", "INSERT INTO c SELECT g, 0 FROM generate_series(1, 60000) g")
        feed.start()
        await feed.logged("publication created")  # connected to Kafka, not yet reading the table
        # Nothing the snapshot sends is acknowledged, so its end is never checkpointed before the kill.
        feed.proxy.blackhole()
        await feed.logged("initial snapshot started")
        feed.kill()
        feed.proxy.heal()
        feed.sql("UPDATE c SET v = 1 WHERE id <= 10")
        feed.start()
        await feed.logged("the initial snapshot was interrupted; starting it over with a new slot")
        await feed.logged("initial snapshot read")
        await feed.caught_up()
        messages = await feed.output(["c"])
        by_key = rows_by_key(messages)
        assert len(by_key) == 60000
        assert final_state(by_key, "c") == {str(i): str(v) for i, v in feed.sql("SELECT id, v FROM c")}
        await feed.stop()


def test_check_names_each_problem_on_its_own_line(postgres, tmp_path, unique, kafka_bootstrap):
    name = f"pc{unique}"
    dsn = postgres.create_database(name)
    postgres.execute(name, "CREATE TABLE keyed (id int PRIMARY KEY, v int)", "CREATE TABLE loose (v int)",
                     f"CREATE ROLE r{unique} LOGIN")
    config = tmp_path / "cdcsink.yaml"

    def check(user: str) -> subprocess.CompletedProcess[str]:
        config.write_text(
            f"changefeed: {name}\nsource:\n  type: postgres\n  dsn: postgresql://{user}@127.0.0.1:{postgres.port}/{name}\n"
            f"  slot: s_{name}\n  create-slot: false\n"
            f"sink:\n  uri: kafka://{kafka_bootstrap}/{name}?protocol=canal-json\n"
            f"checkpoint:\n  store: {tmp_path / 'cp.json'}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        return subprocess.run([sys.executable, "-m", "cdcsink", "check", "--config", str(config)],
                              env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)

    result = check(f"r{unique}")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cdcsink: ") or line.startswith("  ")]
    text = result.stderr
    assert f"role r{unique} may not replicate (ALTER ROLE r{unique} REPLICATION)" in text
    assert f"replication slot 's_{name}' does not exist" in text and "source.create-slot is false" in text
    assert "table public.loose: REPLICA IDENTITY DEFAULT gives no key" in text
    assert "table public.keyed" not in text
    assert "Traceback" not in text and lines
    postgres.execute(name, "ALTER TABLE loose REPLICA IDENTITY FULL", f"ALTER ROLE r{unique} REPLICATION")
    result = check(f"r{unique}")
    assert "table public.loose" not in result.stderr and "may not replicate" not in result.stderr
    assert "does not exist" in result.stderr  # the slot is still missing, and create-slot is false


def test_check_names_a_server_without_logical_decoding(tmp_path, kafka_bootstrap):
    """wal_level below logical: ``check`` says so and how to fix it, before anything
    else fails less clearly (a slot cannot even be created)."""
    with PostgresServer(wal_level="replica") as server:
        config = tmp_path / "cdcsink.yaml"
        config.write_text(
            f"changefeed: walcheck\nsource:\n  type: postgres\n  dsn: {server.dsn()}\n  slot: s_walcheck\n"
            f"sink:\n  uri: kafka://{kafka_bootstrap}/walcheck?protocol=canal-json\n"
            f"checkpoint:\n  store: {tmp_path / 'cp.json'}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDCSINK_")}
        result = subprocess.run([sys.executable, "-m", "cdcsink", "check", "--config", str(config)],
                                env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "wal_level is replica; logical replication needs wal_level = logical" in result.stderr
    assert "ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr
