"""``make bench``: naive, ceiling and cdcsink (canal-json, open-protocol) on the
same broker, input and topic layout, each mode in its own process (so peak RSS
is that mode's), each figure the median of ``--repeat`` runs.

- naive: one ``await producer.send()`` per pre-encoded message (futures gathered in windows),
- ceiling: per-partition ``create_batch``/``send_batch`` of the same pre-encoded messages,
- cdcsink: the daemon's pipeline, file -> route -> encode -> Kafka -> acks -> final checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TABLES_DEFAULT = 20
PARTITIONS = 6


def _settings(bootstrap: str, path: str, topic: str, protocol: str, checkpoint: str):
    from cdcsink.config import Settings

    return Settings(
        source={"type": "file", "path": path},
        sink={
            "uri": f"kafka://{bootstrap}/{topic}?protocol={protocol}&partition-num={PARTITIONS}&enable-tidb-extension=true",
            "dispatchers": [{"matcher": ["*.*"], "topic": topic + "_{table}", "partition": "index-value"}],
        },
        checkpoint={"store": f"file://{checkpoint}", "interval": "1s"},
        http={"enabled": False},
    )


async def _encoded(bootstrap: str, path: str, topic: str):
    """The input routed and encoded exactly as cdcsink would (canal-json), per topic-partition."""
    from cdcsink.decode import Decoder
    from cdcsink.encode.canal_json import CanalJsonEncoder
    from cdcsink.encode.options import EncoderOptions
    from cdcsink.events import RowEvent
    from cdcsink.route.config import DispatcherConfig
    from cdcsink.route.router import Router

    router = Router([DispatcherConfig(matcher=["*.*"], topic=topic + "_{table}", partition="index-value")], topic)
    encoder = CanalJsonEncoder(EncoderOptions("canal-json", True))
    decoder = Decoder()
    out: list[tuple[str, int, bytes]] = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            event = decoder.decode(line, path, n)
            if type(event) is RowEvent:
                route = router.route(event.schema, event.table)
                (_, value), = encoder.encode_rows([event])
                out.append((route.topic, route.partition(event, PARTITIONS), value))
    return out


async def _create_topics(bootstrap: str, topics: set[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in sorted(topics)])
    finally:
        await admin.close()


async def _client_mode(mode: str, bootstrap: str, path: str) -> dict:
    from aiokafka import AIOKafkaProducer

    topic = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    messages = await _encoded(bootstrap, path, topic)
    await _create_topics(bootstrap, {t for t, _, _ in messages})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False,
                                max_batch_size=1 << 20, max_request_size=2 << 20)
    await producer.start()
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        if mode == "naive":
            window = []
            for t, p, value in messages:
                window.append(await producer.send(t, value, partition=p))
                if len(window) >= 10_000:
                    await asyncio.gather(*window)
                    window = []
            await asyncio.gather(*window)
        else:
            batches: dict[tuple[str, int], object] = {}
            pending = []

            async def send(key, batch):
                sent_at = time.perf_counter()
                fut = await producer.send_batch(batch, key[0], partition=key[1])
                fut.add_done_callback(lambda _f: latencies.append(time.perf_counter() - sent_at))
                pending.append(fut)

            for t, p, value in messages:
                batch = batches.get((t, p))
                if batch is None:
                    batch = batches[(t, p)] = producer.create_batch()
                if batch.append(key=None, value=value, timestamp=None) is None:
                    await send((t, p), batch)
                    batch = batches[(t, p)] = producer.create_batch()
                    batch.append(key=None, value=value, timestamp=None)
            for key, batch in batches.items():
                await send(key, batch)
            await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"events": len(messages), "seconds": elapsed, "bytes": sum(len(v) for _, _, v in messages), "latencies": latencies}


async def _sink_mode(protocol: str, bootstrap: str, path: str) -> dict:
    from cdcsink.daemon import tune_gc
    from cdcsink.logs import configure_logging
    from cdcsink.pipeline import Pipeline

    configure_logging("console", "warning")
    tune_gc()
    topic = f"bench-sink-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(_settings(bootstrap, path, topic, protocol, f"{tmp}/cp.json"))
        started = time.perf_counter()
        result = await pipeline.run()
        elapsed = time.perf_counter() - started
    return {"events": result.rows, "seconds": elapsed, "bytes": sum(pipeline.sink.stats.bytes.values())}


def _child(mode: str, bootstrap: str, path: str) -> None:
    if mode in ("naive", "ceiling"):
        result = asyncio.run(_client_mode(mode, bootstrap, path))
    else:
        result = asyncio.run(_sink_mode(mode.removeprefix("cdcsink-"), bootstrap, path))
    lat = sorted(result.pop("latencies", []))
    result["p50_ms"] = round(lat[len(lat) // 2] * 1000, 2) if lat else None
    result["p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run_mode(mode: str, bootstrap: str, path: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.run", "--child", mode, "--bootstrap", bootstrap, "--input", path],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench mode {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--tables", type=int, default=TABLES_DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child")
    parser.add_argument("--bootstrap")
    parser.add_argument("--input")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.bootstrap, args.input)
        return 0

    from cdcsink.devtools.broker import DevBroker
    from tests.workload import generate

    with tempfile.TemporaryDirectory() as tmp:
        path = str(generate(args.events, tables=args.tables, keys=5000, resolved_every=1000, seed=args.seed).write(Path(tmp) / "events.ndjson"))
        external = os.environ.get("CDCSINK_BENCH_BOOTSTRAP")
        broker = None if external else DevBroker(log_path=Path(tmp) / "broker.log").start()
        bootstrap = external or broker.bootstrap
        try:
            modes = ["naive", "ceiling", "cdcsink-canal-json", "cdcsink-open-protocol"]
            runs = {m: [_run_mode(m, bootstrap, path) for _ in range(args.repeat)] for m in modes}
        finally:
            if broker is not None:
                broker.stop()
    figures = {}
    print(f"{'mode':<24}{'events/s':>12}{'MB/s':>8}{'peak RSS MB':>13}{'p50 ms':>9}{'p99 ms':>9}")
    for mode, results in runs.items():
        eps = statistics.median(r["events"] / r["seconds"] for r in results)
        mbs = statistics.median(r["bytes"] / r["seconds"] / 1e6 for r in results)
        rss = max(r["peak_rss_mb"] for r in results)
        p50 = results[0].get("p50_ms")
        p99 = results[0].get("p99_ms")
        figures[mode] = (eps, rss)
        print(f"{mode:<24}{eps:>12,.0f}{mbs:>8.1f}{rss:>13.0f}{p50 if p50 is not None else 'n/a':>9}{p99 if p99 is not None else 'n/a':>9}")
    sink_eps = figures["cdcsink-canal-json"][0]
    line = {
        "sink_eps": round(sink_eps),
        "naive_eps": round(figures["naive"][0]),
        "ceiling_eps": round(figures["ceiling"][0]),
        "ratio_naive": round(sink_eps / figures["naive"][0], 3),
        "ratio_ceiling": round(sink_eps / figures["ceiling"][0], 3),
        "peak_rss_mb": round(figures["cdcsink-canal-json"][1], 1),
        "open_protocol_eps": round(figures["cdcsink-open-protocol"][0]),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
