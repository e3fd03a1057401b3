"""`make demo-postgres`: a local PostgreSQL (a cluster of its own, wal_level=logical)
and the dev broker; the daemon streams the database's changes into Kafka while a
few transactions run, then every topic is read back and printed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cdcsink.config import Settings
from cdcsink.devtools.broker import DevBroker
from cdcsink.devtools.postgres import PostgresServer
from cdcsink.devtools.readback import read_back
from cdcsink.errors import CdcsinkError
from cdcsink.logs import configure_logging
from cdcsink.pipeline import Pipeline


async def demo(workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / "postgres-checkpoint.json"
    checkpoint.unlink(missing_ok=True)
    with PostgresServer() as postgres, DevBroker(log_path=workdir / "broker.log") as broker:
        dsn = postgres.create_database("shop")
        postgres.execute("shop", "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), note text)",
                         "INSERT INTO orders VALUES (1, 9.90, 'before the daemon started')")
        settings = Settings.model_validate({
            "changefeed": "demo-postgres",
            "source": {"type": "postgres", "dsn": dsn, "slot": "demo", "publication": "demo", "heartbeat-interval": 0.2},
            "sink": {"uri": f"kafka://{broker.bootstrap}/shop?protocol=canal-json&enable-tidb-extension=true",
                     "dispatchers": [{"matcher": ["*.*"], "topic": "{schema}_{table}"}]},
            "checkpoint": {"store": str(checkpoint), "interval": 0.2},
            "http": {"enabled": False},
        })
        configure_logging("console", "warning", settings.changefeed)
        print(f"PostgreSQL on 127.0.0.1:{postgres.port} (database shop); dev broker (Tansu) on {broker.bootstrap}")
        pipeline = Pipeline(settings)
        run = asyncio.create_task(pipeline.run())
        await asyncio.sleep(2)
        postgres.execute("shop", "BEGIN; INSERT INTO orders VALUES (2, 19.99, 'new'); UPDATE orders SET note = 'paid' WHERE id = 1; COMMIT",
                         "DELETE FROM orders WHERE id = 2")
        await asyncio.sleep(2)
        pipeline.request_stop()
        result = await run
        records = await read_back(broker.bootstrap, result.messages)
        for (topic, partition), recs in sorted(records.items()):
            for record in recs:
                if b'"TIDB_WATERMARK"' in record.value:
                    continue
                print(f"{topic}[{partition}]@{record.offset}: {record.value[:300].decode(errors='replace')}")
        slot = postgres.slot("shop", "demo")
        print(f"\nrows {result.rows}; checkpoint_ts {result.checkpoint_ts}; the slot confirmed up to LSN {slot[0] if slot else '-'}")
    return 0


def main() -> int:
    try:
        return asyncio.run(demo(Path("run")))
    except CdcsinkError as error:
        print(f"cdcsink: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
